/**
 * Nested networks (ISA-95 levels): for every Device that is the parent of
 * others, the hub renders what that gateway must run for the level below, a
 * Squid proxy (CONNECT only from its children, only to the level above) and
 * a Mosquitto broker bridged upward with its children's topics, as a
 * Workload and Placement in `outpost-system` like any other workload.
 * `render.ts` is the pure rendering, `reconciler.ts` the reconcile,
 * `controller.ts` the wiring. Admission of the topology itself (no cycles,
 * levels descend) is `src/hub/admission/device-topology.ts`.
 */
export { addGatewayRenderer, type GatewayRenderer, type GatewayRendererOptions } from './controller.ts';
export {
  createGatewayReconciler,
  GATEWAY_FIELD_MANAGER,
  type GatewayInformers,
  type GatewayReconcilerOptions,
} from './reconciler.ts';
export {
  BROKER_NAME,
  type Child,
  GATEWAY_LABEL,
  GATEWAY_NAMESPACE,
  gatewayObjectName,
  mosquittoAcl,
  mosquittoConfig,
  PROXY_NAME,
  type RenderedGateway,
  renderGateway,
  squidConfig,
  type Upstream,
} from './render.ts';
