/**
 * The enrollment endpoints, the only ones reachable without a valid client
 * certificate (their routes carry `config.anonymous`, which the app's
 * authentication hook honours):
 *
 *   GET  /enroll/ca[?tokenId=ID]        the CA, signed with the token when an id is given
 *   POST /enroll                        token + name + CSR + facts: creates the Device, signs at once or later
 *   GET  /enroll/devices/NAME?publicKeyHash=sha256:HEX   poll: 202 while pending, 200 with the certificate
 *   POST /enroll/renew                  a new CSR over mTLS (a valid, or an expired-within-grace, certificate)
 *
 * Everything they keep is in the store (the BootstrapToken's uses; the
 * Device with its approval and the enrolled public key), so any replica
 * answers any step.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  type BootstrapToken,
  bootstrapTokenKind,
  caSignature,
  type Device,
  type EnrollmentCaResponse,
  type EnrollmentResponse,
  type KindDefinition,
  type KubeObject,
  refusedLabels,
  TOKEN_ID,
} from '../../api/index.ts';
import { DEVICE_USER_PREFIX, uidsOf } from '../auth/index.ts';
import { ApiError, errors, type ObjectService, parse } from '../kube-api/index.ts';
import { type CertificateAuthority, verifyIssuedBy } from '../pki/index.ts';
import { readEnrollRequest, readRenewRequest } from './request.ts';
import { checkCsr, publicKeyHash, signDeviceCertificate } from './signer.ts';
import { TokenBook, tokenRefused, type ValidToken } from './tokens.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route authenticates its callers itself (enrollment): no 401 for a request without a certificate. */
    anonymous?: boolean;
  }
}

const DAY = 24 * 3600;
const FIELD_MANAGER = 'outpost-enrollment';
/** The annotation holding the enrolled public key (base64 DER SubjectPublicKeyInfo). */
export const PUBLIC_KEY_ANNOTATION = 'outpost.dev/enrollment-public-key';
/** The annotation naming the bootstrap token a Device enrolled with. */
export const TOKEN_ANNOTATION = 'outpost.dev/bootstrap-token';

/** How the hub signs device certificates. */
export interface EnrollmentOptions {
  /** The CA that signs device certificates (the hub's). */
  readonly ca: CertificateAuthority;
  /** Lifetime of device certificates. @default 30 days */
  readonly deviceCertLifetimeSeconds?: number;
  /** How long after expiry a device may still renew with its old certificate. @default 30 days */
  readonly renewalGraceSeconds?: number;
}

/** Registers the enrollment endpoints on the hub's app. */
export function registerEnrollment(
  app: FastifyInstance,
  service: ObjectService,
  options: EnrollmentOptions & { now?: () => Date },
): void {
  const now = options.now ?? (() => new Date());
  const lifetimeSeconds = options.deviceCertLifetimeSeconds ?? 30 * DAY;
  const graceSeconds = options.renewalGraceSeconds ?? 30 * DAY;
  const tokens = new TokenBook(service, now);
  const deviceKind = service.registry.byKind('outpost.dev/v1alpha1', 'Device')!;
  const ca = options.ca;
  const anonymous = { config: { anonymous: true } };

  const answer = (reply: FastifyReply, code: number, device: KubeObject, publicKey?: string) => {
    const body: EnrollmentResponse = {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'EnrollmentResponse',
      name: device.metadata.name!,
      uid: device.metadata.uid!,
      phase: publicKey ? 'Issued' : 'Pending',
      caCertificate: ca.certPem,
      ...(publicKey
        ? {
            certificate: signDeviceCertificate(ca, {
              name: device.metadata.name!,
              uid: device.metadata.uid!,
              publicKey,
              lifetimeSeconds,
              now: now(),
            }),
          }
        : {}),
    };
    return reply.code(code).type('application/json').send(JSON.stringify(body));
  };

  app.get<{ Querystring: { tokenId?: string } }>('/enroll/ca', anonymous, async (request, reply) => {
    const tokenId = request.query.tokenId;
    const body: EnrollmentCaResponse = { caCertificate: ca.certPem };
    if (tokenId !== undefined) {
      const token = TOKEN_ID.test(tokenId)
        ? await readOptional(service, bootstrapTokenKind, tokenId)
        : undefined;
      if (!token) throw tokenRefused('bootstrap token is not valid (unknown or revoked)');
      body.signature = caSignature((token.spec as BootstrapToken['spec']).secretHash, ca.certPem);
    }
    return reply.type('application/json').send(JSON.stringify(body));
  });

  app.post('/enroll', anonymous, async (request, reply) => {
    const body = readEnrollRequest(request.body);
    // Every check that can fail comes before the first write, so a refusal creates nothing.
    const valid = await tokens.check(body.token);
    checkLabels(valid, body.labels);
    const csr = await checkCsr(body.csr, body.name);
    if (await readOptional(service, deviceKind, body.name)) throw errors.alreadyExists(deviceKind, body.name);
    const token = await tokens.use(body.token);
    const status: Device['status'] = { phase: 'Pending', system: body.facts };
    let created: KubeObject;
    try {
      // Created with its status in one write (one commit, one watch event), not a create and a status update.
      created = parse(
        await service.create(
          deviceKind,
          undefined,
          newDevice(body.name, token.id, token.spec, csr.publicKey, body.labels),
          { fieldManager: FIELD_MANAGER, initialStatus: status },
        ),
      );
    } catch (error) {
      // Another enrollment took the name between the check and the create: give the use back.
      await tokens.release(token.id);
      throw error;
    }
    request.log.info(
      { device: body.name, token: token.id, approval: token.spec.approval },
      'device enrolled',
    );
    return token.spec.approval === 'auto'
      ? answer(reply, 201, created, csr.publicKey)
      : answer(reply, 202, created);
  });

  app.get<{ Params: { name: string }; Querystring: { publicKeyHash?: string } }>(
    '/enroll/devices/:name',
    anonymous,
    async (request, reply) => {
      const { name } = request.params;
      const device = await readOptional(service, deviceKind, name);
      if (!device || device.metadata.deletionTimestamp) throw errors.notFound(deviceKind, name);
      const enrolledKey = publicKeyOf(device);
      if (!enrolledKey || publicKeyHash(enrolledKey) !== request.query.publicKeyHash)
        throw errors.forbidden(`device ${name} was not enrolled with this key`);
      const approved = (device.spec as Device['spec'])?.approved === true;
      return approved ? answer(reply, 200, device, enrolledKey) : answer(reply, 202, device);
    },
  );

  app.post('/enroll/renew', anonymous, async (request, reply) => {
    const { csr: csrPem } = readRenewRequest(request.body);
    const caller = await renewingDevice(request, ca, graceSeconds, now);
    const device = await readOptional(service, deviceKind, caller.name);
    if (!device || device.metadata.deletionTimestamp || (caller.uid && device.metadata.uid !== caller.uid))
      throw new ApiError(
        401,
        'Unauthorized',
        `device ${caller.name} no longer exists: enroll again with a new bootstrap token`,
      );
    const csr = await checkCsr(csrPem, caller.name);
    request.log.info({ device: caller.name, expired: caller.expired }, 'device certificate renewed');
    return answer(reply, 200, device, csr.publicKey);
  });
}

/** The device renewing: from a valid certificate, or from one expired less than the grace period ago. */
async function renewingDevice(
  request: FastifyRequest,
  ca: CertificateAuthority,
  graceSeconds: number,
  now: () => Date,
): Promise<{ name: string; uid?: string; expired: boolean }> {
  const identity = request.identity;
  if (identity?.device) return { name: identity.device, expired: false };
  if (identity) throw errors.forbidden(`${identity.user} is not a device: only devices renew certificates`);
  const socket = request.raw.socket as TLSSocket;
  if (
    typeof socket.getPeerCertificate !== 'function' ||
    socket.authorizationError?.toString() !== 'CERT_HAS_EXPIRED'
  )
    throw errors.unauthorized();
  // TLS verified the key possession (the handshake signature) but not the chain of an expired certificate.
  const raw = socket.getPeerCertificate().raw;
  const verified = raw ? await verifyIssuedBy(ca, raw) : undefined;
  const uids = verified ? uidsOf(verified.uris) : [];
  if (!verified?.commonName.startsWith(DEVICE_USER_PREFIX) || uids.length !== 1) throw errors.unauthorized();
  const name = verified.commonName.slice(DEVICE_USER_PREFIX.length);
  const deadline = verified.notAfter.getTime() + graceSeconds * 1000;
  if (now().getTime() > deadline)
    throw new ApiError(
      401,
      'Unauthorized',
      `the certificate of device ${name} expired at ${verified.notAfter.toISOString()}, beyond the renewal grace period of ${graceSeconds} s: enroll again with a new bootstrap token`,
    );
  return { name, uid: uids[0]!, expired: true };
}

/**
 * Refuses labels the token does not let the device choose (see
 * `refusedLabels`): labels select what a device runs and which secrets it
 * gets, so a device chooses only among what the person who made the token
 * allowed. After enrollment only people change them (devices may not write
 * their Device but its status).
 * @throws ApiError 403 naming each refused label and why.
 */
function checkLabels(token: ValidToken, asked: Readonly<Record<string, string>> | undefined): void {
  const refused = refusedLabels(asked ?? {}, token.spec);
  if (refused.length === 0) return;
  const plural = refused.length === 1 ? 'label' : 'labels';
  throw new ApiError(
    403,
    'Forbidden',
    `bootstrap token ${token.id} does not allow the ${plural} ${refused.join(', ')}: enroll without ${refused.length === 1 ? 'it' : 'them'}, or with a token that allows ${refused.length === 1 ? 'it' : 'them'} (outpost token create --allow-labels KEY[=VALUE|VALUE...])`,
  );
}

/**
 * The Device an enrollment creates: the token's `deviceLabels` and the labels
 * the device asked for, which {@link checkLabels} has found allowed.
 */
function newDevice(
  name: string,
  tokenId: string,
  spec: BootstrapToken['spec'],
  publicKey: string,
  asked: Readonly<Record<string, string>> = {},
): KubeObject {
  const der = Buffer.from(publicKey.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const metadata: KubeObject['metadata'] = {
    name,
    annotations: { [PUBLIC_KEY_ANNOTATION]: der.toString('base64'), [TOKEN_ANNOTATION]: tokenId },
  };
  const labels = { ...asked, ...spec.deviceLabels };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Device',
    metadata,
    spec: { approved: spec.approval === 'auto' },
  };
}

/** The enrolled public key of a Device as PEM, from its annotation. */
function publicKeyOf(device: KubeObject): string | undefined {
  const base64 = device.metadata.annotations?.[PUBLIC_KEY_ANNOTATION];
  if (!base64) return undefined;
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join('\n')}\n-----END PUBLIC KEY-----\n`;
}

async function readOptional(
  service: ObjectService,
  def: KindDefinition,
  name: string,
): Promise<KubeObject | undefined> {
  // find, not get: a missing object is the common case here (every new enrollment), not an error.
  const stored = await service.find(def, undefined, name);
  return stored ? parse(stored) : undefined;
}
