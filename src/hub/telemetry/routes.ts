/**
 * The telemetry and command endpoints (the CLI's, later the dashboard's):
 *
 *   GET  /apis/outpost.dev/v1alpha1/namespaces/NS/opcuaconnectors/NAME/telemetry[?device=D][&watch=true]
 *        latest values `{"items":[...]}`, or with watch a stream of JSON lines (the current values
 *        first); authorised as `opcuaconnectors/telemetry`, verb get, in NS
 *   GET  /apis/outpost.dev/v1alpha1/opcuaconnectors/telemetry[?device=D][&namespace=NS][&watch=true]
 *        the same over every connector: cluster-wide get on `opcuaconnectors/telemetry`, or with
 *        `namespace=NS` over that namespace's connectors, get in NS
 *   POST /apis/outpost.dev/v1alpha1/namespaces/NS/opcuaconnectors/NAME/commands   {"feature","value","device"?}
 *        200 with the ack; 404 unknown connector / feature / device, or a device (or none) the
 *        connector is not placed on, 409 it is placed on several devices and none is named, 504 no
 *        ack in time, 422 / 502 the ack says not ok, 503 the external broker (`--mqtt`) is unreachable;
 *        authorised as `opcuaconnectors/commands`, verb create, in NS
 *
 * A command goes only to a device the connector is placed on (its rendered Workload, controlled by
 * it, in the device's Mailbox): never to one that merely published values under its name. Without
 * `device`, to the one device it is placed on; with several, none is chosen: a setpoint written
 * through several connectors (perhaps to one PLC) is not what a person sending one command means,
 * so the answer names them and asks for one.
 *
 * These routes authorise themselves (`config.authorizesItself`): the subresources are not derived
 * from the URL as the generic hook would (a watch here is still `get`, and the cluster-wide path
 * names no object).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KubeObject } from '../../api/index.ts';
import { type Authorizer, forbidden, type RequestAttributes, requestAttributes } from '../auth/index.ts';
import { ApiError, checkNesting, errors, type ObjectService, parse, queryBool } from '../kube-api/index.ts';
import { BrokerUnavailableError } from './bridge.ts';
import { CommandTimeoutError } from './commands.ts';
import { matches, type TelemetryFilter, type TelemetryValue } from './latest-values.ts';
import type { TelemetryHub } from './telemetry.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route calls the authoriser itself, with attributes the generic hook cannot derive. */
    authorizesItself?: boolean;
  }
}

/** Options of {@link registerTelemetry}. */
export interface TelemetryRoutesOptions {
  readonly telemetry: TelemetryHub;
  readonly authorize: Authorizer;
}

const GROUP_VERSION = '/apis/outpost.dev/v1alpha1';
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** A feature is one or more topic levels without wildcards or blanks. */
const FEATURE = /^[^/+#\s]+(\/[^/+#\s]+)*$/;
/** A watcher further behind than this is cut off (it reconnects and gets the latest values again). */
const MAX_WATCH_BACKLOG_BYTES = 8 * 1024 * 1024;
/** OPC UA status codes that refuse the value itself (the caller's mistake): 422; any other: 502. */
const VALUE_REFUSALS = new Set([
  'BadTypeMismatch',
  'BadOutOfRange',
  'BadNotWritable',
  'BadWriteNotSupported',
  'BadIndexRangeInvalid',
  'BadIndexRangeNoData',
  'BadDataEncodingInvalid',
  'BadDataEncodingUnsupported',
  'BadUserAccessDenied',
  'BadNodeIdUnknown',
]);

interface TelemetryQuery {
  device?: string;
  namespace?: string;
  watch?: string;
}

/** Registers the endpoints and serves the devices' MQTT endpoint on the app's server. */
export function registerTelemetry(
  app: FastifyInstance,
  service: ObjectService,
  options: TelemetryRoutesOptions,
): void {
  const { telemetry, authorize } = options;
  telemetry.attach(app.server);
  const self = { config: { authorizesItself: true } };

  /** Throws the apiserver's 403 unless the caller may `verb` the subresource. */
  const check = (request: FastifyRequest, base: string, overrides: Partial<RequestAttributes>) => {
    const identity = request.identity;
    if (!identity) throw errors.unauthorized();
    const attributes = { ...requestAttributes(identity, 'GET', base, {}), ...overrides };
    const decision = authorize.authorize(attributes);
    if (!decision.allowed) throw forbidden(attributes, decision.reason);
  };

  /** The connector, when the OpcUaConnector kind exists (404 when the connector does not). */
  const connectorOf = async (namespace: string, name: string): Promise<KubeObject | undefined> => {
    const def = service.registry.byKind('outpost.dev/v1alpha1', 'OpcUaConnector');
    if (!def) return undefined;
    return parse(await service.get(def, namespace, name));
  };

  app.get<{ Params: { namespace: string; name: string }; Querystring: TelemetryQuery }>(
    `${GROUP_VERSION}/namespaces/:namespace/opcuaconnectors/:name/telemetry`,
    self,
    async (request, reply) => {
      const { namespace, name } = request.params;
      check(request, `${GROUP_VERSION}/namespaces/${namespace}/opcuaconnectors/${name}/telemetry`, {
        verb: 'get',
      });
      const device = deviceOf(request.query);
      await connectorOf(namespace, name);
      const filter: TelemetryFilter = { namespace, connector: name, ...(device ? { device } : {}) };
      if (queryBool(request.query.watch)) return stream(telemetry, filter, reply);
      return reply.type('application/json').send(JSON.stringify({ items: telemetry.latest.values(filter) }));
    },
  );

  app.get<{ Querystring: TelemetryQuery }>(
    `${GROUP_VERSION}/opcuaconnectors/telemetry`,
    self,
    async (request, reply) => {
      const namespace = request.query.namespace;
      if (namespace !== undefined && !NAME.test(namespace))
        throw errors.badRequest(`${JSON.stringify(namespace)} is not a namespace name`);
      const base = namespace
        ? `${GROUP_VERSION}/namespaces/${namespace}/opcuaconnectors`
        : `${GROUP_VERSION}/opcuaconnectors`;
      check(request, base, { verb: 'get', subresource: 'telemetry', name: '' });
      const device = deviceOf(request.query);
      const filter: TelemetryFilter = { ...(namespace ? { namespace } : {}), ...(device ? { device } : {}) };
      if (queryBool(request.query.watch)) return stream(telemetry, filter, reply);
      return reply.type('application/json').send(JSON.stringify({ items: telemetry.latest.values(filter) }));
    },
  );

  app.post<{ Params: { namespace: string; name: string } }>(
    `${GROUP_VERSION}/namespaces/:namespace/opcuaconnectors/:name/commands`,
    self,
    async (request, reply) => {
      const { namespace, name } = request.params;
      check(request, `${GROUP_VERSION}/namespaces/${namespace}/opcuaconnectors/${name}/commands`, {
        verb: 'create',
      });
      const body = readCommandBody(request.body);
      const connector = await connectorOf(namespace, name);
      const subscriptions = (connector?.spec as { subscriptions?: unknown } | undefined)?.subscriptions;
      if (subscriptions && typeof subscriptions === 'object' && !Object.hasOwn(subscriptions, body.feature)) {
        const known = Object.keys(subscriptions).sort().join(', ') || 'none';
        throw new ApiError(
          404,
          'NotFound',
          `connector "${namespace}/${name}" has no feature "${body.feature}" (its features: ${known})`,
          { name, group: 'outpost.dev', kind: 'opcuaconnectors' },
        );
      }
      const device = await targetDevice(service, telemetry, connector, namespace, name, body.device);
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort(new Error('the client went away'));
      });
      let ack: Awaited<ReturnType<TelemetryHub['commands']['send']>>;
      try {
        ack = await telemetry.commands.send(
          { device, namespace, connector: name, feature: body.feature, value: body.value },
          gone.signal,
        );
      } catch (error) {
        if (error instanceof CommandTimeoutError) throw new ApiError(504, 'Timeout', error.message);
        if (error instanceof BrokerUnavailableError) throw errors.unavailable(error.message);
        throw error;
      }
      if (!ack.ok) {
        const detail = ack.error ? `: ${ack.error}` : '';
        const message = `device "${device}" refused the command to ${namespace}/${name} ${body.feature}: ${ack.statusCode}${detail}`;
        if (VALUE_REFUSALS.has(ack.statusCode)) throw new ApiError(422, 'Invalid', message);
        throw new ApiError(502, 'BadGateway', message);
      }
      return reply
        .type('application/json')
        .send(
          JSON.stringify({ ...ack, namespace, connector: name, feature: body.feature, value: body.value }),
        );
    },
  );
}

/** Streams `filter`'s current values, then every new one, as JSON lines until the client leaves. */
function stream(telemetry: TelemetryHub, filter: TelemetryFilter, reply: FastifyReply): FastifyReply {
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  const line = (value: TelemetryValue) => `${JSON.stringify(value)}\n`;
  const current = telemetry.latest.values(filter);
  out.write(current.length > 0 ? current.map(line).join('') : '');
  out.flushHeaders();
  const stop = telemetry.latest.onValue((value) => {
    if (!matches(value, filter) || out.destroyed) return;
    if (out.writableLength > MAX_WATCH_BACKLOG_BYTES) {
      out.destroy();
      return;
    }
    out.write(line(value));
  });
  out.once('close', stop);
  return reply;
}

/** At most this many device names in an answer. */
const MAX_NAMED = 10;

/**
 * The one device a command goes to: the named one, or the only one, of the
 * devices the connector is placed on (see the module comment).
 */
async function targetDevice(
  service: ObjectService,
  telemetry: TelemetryHub,
  connector: KubeObject | undefined,
  namespace: string,
  name: string,
  named: string | undefined,
): Promise<string> {
  const devices = await placedOn(service, telemetry, connector, namespace, name);
  const details = { name, group: 'outpost.dev', kind: 'opcuaconnectors' };
  if (named !== undefined) {
    const def = service.registry.byKind('outpost.dev/v1alpha1', 'Device');
    if (def) await service.get(def, undefined, named);
    if (devices.includes(named)) return named;
    throw new ApiError(
      404,
      'NotFound',
      `connector "${namespace}/${name}" is not placed on device "${named}" (${placedText(devices)})`,
      details,
    );
  }
  if (devices.length === 1) return devices[0]!;
  if (devices.length === 0)
    throw new ApiError(
      404,
      'NotFound',
      `connector "${namespace}/${name}" is not placed on any device`,
      details,
    );
  throw new ApiError(
    409,
    'Conflict',
    `connector "${namespace}/${name}" runs on several devices (${listed(devices)}): name one (--device)`,
    details,
  );
}

/** The devices the connector is placed on: those whose Mailbox holds its Workload, if that Workload is the connector's. */
async function placedOn(
  service: ObjectService,
  telemetry: TelemetryHub,
  connector: KubeObject | undefined,
  namespace: string,
  name: string,
): Promise<string[]> {
  const workloadKind = service.registry.byKind('outpost.dev/v1alpha1', 'Workload');
  if (!connector || !workloadKind) return [];
  // The renderer names the Workload as the connector; one of that name it does not control is not its.
  const stored = await service.find(workloadKind, namespace, name);
  const workload = stored ? parse(stored) : undefined;
  const controlled = workload?.metadata.ownerReferences?.some(
    (owner) =>
      owner.controller === true && owner.kind === connector.kind && owner.uid === connector.metadata.uid,
  );
  return controlled ? telemetry.placements.devices(namespace, name) : [];
}

function placedText(devices: readonly string[]): string {
  return devices.length === 0 ? 'it is placed on none' : `it is placed on ${listed(devices)}`;
}

function listed(devices: readonly string[]): string {
  const shown = devices.slice(0, MAX_NAMED).join(', ');
  return devices.length > MAX_NAMED ? `${shown} and ${devices.length - MAX_NAMED} more` : shown;
}

function readCommandBody(raw: unknown): { feature: string; value: unknown; device?: string } {
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : '';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw errors.badRequest('the body must be JSON: {"feature": "...", "value": ..., "device"?: "..."}');
  }
  // The value is serialized to the device: measured before anything recurses through it.
  checkNesting(body, 'the request body');
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw errors.badRequest(
      'the body must be a JSON object: {"feature": "...", "value": ..., "device"?: "..."}',
    );
  const { feature, value, device } = body as Record<string, unknown>;
  if (typeof feature !== 'string' || !FEATURE.test(feature))
    throw errors.badRequest('"feature" must be the name of one of the connector\'s features');
  if (value === undefined) throw errors.badRequest('"value" is required');
  if (device !== undefined && (typeof device !== 'string' || !NAME.test(device)))
    throw errors.badRequest('"device" must be a device name');
  return { feature, value, ...(device !== undefined ? { device: device as string } : {}) };
}

function deviceOf(query: TelemetryQuery): string | undefined {
  const device = query.device;
  if (device === undefined || device === '') return undefined;
  if (!NAME.test(device)) throw errors.badRequest(`${JSON.stringify(device)} is not a device name`);
  return device;
}
