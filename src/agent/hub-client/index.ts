/**
 * The agent's HTTPS client for the hub, which enrollment, sync, the report
 * sender, heartbeats and logs all speak through: a dispatcher holding one
 * HTTP/2 session per route (HTTP/1.1 keep-alive connections when the hub does
 * not negotiate `h2`), CONNECT tunnels through the parent's proxy (hub-proxy.ts) or `HTTPS_PROXY` (dispatcher.ts,
 * http2.ts, http1.ts, proxy-tunnel.ts, response.ts), and the small Kubernetes
 * API client the agent's loops use on it (hub-api.ts). Shared types live in
 * types.ts, which imports nothing back.
 *
 *   const api = new HubApi(credentials);
 *   const mailbox = await api.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${name}`);
 */
export {
  HubDispatcher,
  type HubDispatcherOptions,
  type HubRequestOptions,
  hubRequest,
} from './dispatcher.ts';
export {
  DeviceDecommissionedError,
  HubApi,
  type HubApiOptions,
  HubStatusError,
  HubUnreachableError,
  type RequestOptions,
  type WatchEvent,
} from './hub-api.ts';
export {
  checkProxyUrl,
  followHubProxy,
  hubProxy,
  loadHubProxy,
  saveHubProxy,
  useHubProxy,
} from './hub-proxy.ts';
export { proxyFor } from './proxy-tunnel.ts';
export { type HubResponse, HubResponseBody } from './response.ts';
export type { HubCallOptions, HubIdentity, HubTls } from './types.ts';
