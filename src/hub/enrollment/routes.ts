/**
 * The enrollment endpoints, the only ones reachable without a valid client
 * certificate (their routes carry `config.anonymous`, which the app's
 * authentication hook honours):
 *
 *   GET  /enroll/ca[?tokenId=ID]        the CA, signed with the token when an id is given
 *   POST /enroll                        token + name + CSR + facts: creates the Device, signs at once or later
 *   POST /enroll/poll                   name + hub time signed with the enrollment key: 202 pending, 200 issued
 *   POST /enroll/renew                  a new CSR over mTLS (a valid, or an expired-within-grace, certificate)
 *
 * Anonymous callers learn nothing of what exists: an unknown token id gets a
 * CA signature as random as a real one, a wrong secret the same refusal as
 * an unknown token, and a poll for an unknown device the same refusal as one
 * with a wrong key (see issuance.ts). Everything they keep is in the store
 * (the BootstrapToken's uses; the Device with its approval, enrolled key,
 * first issue and retirement), so any replica answers any step.
 */
import { randomBytes } from 'node:crypto';
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
import { type EventSink, NO_EVENTS } from '../events/index.ts';
import { ApiError, errors, type ObjectService, parse } from '../kube-api/index.ts';
import { type CertificateAuthority, verifyIssuedBy } from '../pki/index.ts';
import { recordCertificate } from './certificate-status.ts';
import {
  annotateOnce,
  checkPollTime,
  enrollmentKeyOf,
  ISSUED_ANNOTATION,
  issuedAtOf,
  PUBLIC_KEY_ANNOTATION,
  pollRefused,
  provesPossession,
  publicKeyOf,
  RETIRED_ANNOTATION,
} from './issuance.ts';
import { readEnrollRequest, readPollRequest, readRenewRequest } from './request.ts';
import { checkCsr, deviceCertificateNotAfter, signDeviceCertificate } from './signer.ts';
import { TokenBook, type ValidToken } from './tokens.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route authenticates its callers itself (enrollment): no 401 for a request without a certificate. */
    anonymous?: boolean;
  }
}

const DAY = 24 * 3600;
const FIELD_MANAGER = 'outpost-enrollment';
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
  /** Where `Enrolled`, `Approved` (by the token) and `CertificateRenewed` Events go. @default none */
  readonly events?: EventSink;
  /** The object storage uploads go to, recorded on each enrolling Device's status. @default none */
  readonly objectStorage?: string;
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
  const events = options.events ?? NO_EVENTS;

  /** Answers with the Device's enrollment state; with `issue`, a certificate for that key, valid from that time. */
  const answer = (
    reply: FastifyReply,
    code: number,
    device: KubeObject,
    issue?: { readonly publicKey: string; readonly at: Date },
  ) => {
    const body: EnrollmentResponse = {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'EnrollmentResponse',
      name: device.metadata.name!,
      uid: device.metadata.uid!,
      phase: issue ? 'Issued' : 'Pending',
      caCertificate: ca.certPem,
      ...(issue
        ? {
            certificate: signDeviceCertificate(ca, {
              name: device.metadata.name!,
              uid: device.metadata.uid!,
              publicKey: issue.publicKey,
              lifetimeSeconds,
              now: issue.at,
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
      const secretHash = token?.metadata.deletionTimestamp
        ? undefined
        : (token?.spec as BootstrapToken['spec'] | undefined)?.secretHash;
      body.nonce = randomBytes(16).toString('hex');
      // An unknown or revoked id: random, as a real signature looks to whoever lacks the secret.
      body.signature = secretHash
        ? caSignature(secretHash, ca.certPem, body.nonce)
        : randomBytes(32).toString('hex');
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
    // An auto-approved enrollment issues its certificate now: the Device records when, in the same write.
    const issuedAt = token.spec.approval === 'auto' ? now() : undefined;
    const status: Device['status'] = {
      phase: 'Pending',
      system: body.facts,
      ...(options.objectStorage
        ? { objectStorage: { location: options.objectStorage, prefix: `devices/${body.name}/` } }
        : {}),
      ...(issuedAt
        ? { certificate: { notAfter: deviceCertificateNotAfter(issuedAt, lifetimeSeconds) } }
        : {}),
    };
    let created: KubeObject;
    try {
      // Created with its status in one write (one commit, one watch event), not a create and a status update.
      created = parse(
        await service.create(
          deviceKind,
          undefined,
          newDevice(body.name, token.id, token.spec, csr.publicKey, body.labels, issuedAt),
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
    const auto = token.spec.approval === 'auto';
    events.record(
      created,
      'Normal',
      'Enrolled',
      `device ${body.name} enrolled with bootstrap token ${token.id}${auto ? '' : `: waiting for approval (outpost device approve ${body.name})`}`,
      'Enroll',
    );
    if (auto)
      events.record(
        created,
        'Normal',
        'Approved',
        `device ${body.name} approved by bootstrap token ${token.id}: certificate issued`,
        'Approve',
      );
    return issuedAt
      ? answer(reply, 201, created, { publicKey: csr.publicKey, at: issuedAt })
      : answer(reply, 202, created);
  });

  app.post('/enroll/poll', anonymous, async (request, reply) => {
    const body = readPollRequest(request.body);
    checkPollTime(body.time, now());
    const device = await readOptional(service, deviceKind, body.name);
    const enrollmentKey = enrollmentKeyOf(device);
    // One verification whatever is missing: the refusal neither says nor times what it was.
    if (!provesPossession(enrollmentKey, body.name, body.time, body.signature) || !device || !enrollmentKey)
      throw pollRefused();
    if ((device.spec as Device['spec'])?.approved !== true) return answer(reply, 202, device);
    // Issued once: the first poll after approval records when; every later one re-issues that validity.
    const issued = issuedAtOf(device)
      ? device
      : await annotateOnce(service, deviceKind, device, ISSUED_ANNOTATION, now().toISOString());
    const issuedAt = issued && issuedAtOf(issued);
    if (!issued || !issuedAt) throw pollRefused();
    const expiresAt = issuedAt.getTime() + lifetimeSeconds * 1000;
    if (expiresAt <= now().getTime())
      throw new ApiError(
        401,
        'Unauthorized',
        `the enrollment certificate of device ${body.name} expired at ${new Date(expiresAt).toISOString()}: it is not issued again; enroll again with a new bootstrap token`,
      );
    await recordCertificate(
      service,
      deviceKind,
      issued,
      deviceCertificateNotAfter(issuedAt, lifetimeSeconds),
    );
    return answer(reply, 200, issued, { publicKey: publicKeyOf(issued)!, at: issuedAt });
  });

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
    // Retired before the new certificate leaves: from now on the poll refuses the enrollment key.
    const renewed = await annotateOnce(service, deviceKind, device, RETIRED_ANNOTATION, now().toISOString());
    if (!renewed)
      throw new ApiError(
        401,
        'Unauthorized',
        `device ${caller.name} no longer exists: enroll again with a new bootstrap token`,
      );
    const at = now();
    const until = deviceCertificateNotAfter(at, lifetimeSeconds);
    await recordCertificate(service, deviceKind, renewed, until);
    request.log.info({ device: caller.name, expired: caller.expired }, 'device certificate renewed');
    events.record(
      renewed,
      'Normal',
      'CertificateRenewed',
      `device ${caller.name} renewed its certificate${caller.expired ? ' after it expired (within the grace period)' : ''}: the new one is valid until ${until}`,
      'Renew',
    );
    return answer(reply, 200, renewed, { publicKey: csr.publicKey, at });
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
 * the device asked for, which {@link checkLabels} has found allowed, and the
 * token's parent gateway and level.
 */
function newDevice(
  name: string,
  tokenId: string,
  spec: BootstrapToken['spec'],
  publicKey: string,
  asked: Readonly<Record<string, string>> = {},
  issuedAt?: Date,
): KubeObject {
  const der = Buffer.from(publicKey.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const metadata: KubeObject['metadata'] = {
    name,
    annotations: {
      [PUBLIC_KEY_ANNOTATION]: der.toString('base64'),
      [TOKEN_ANNOTATION]: tokenId,
      ...(issuedAt ? { [ISSUED_ANNOTATION]: issuedAt.toISOString() } : {}),
    },
  };
  const labels = { ...asked, ...spec.deviceLabels };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Device',
    metadata,
    spec: {
      approved: spec.approval === 'auto',
      // Behind a gateway: admission checks the parent and level as for any Device written.
      ...(spec.parent !== undefined ? { parent: spec.parent } : {}),
      ...(spec.level !== undefined ? { level: spec.level } : {}),
    },
  };
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
