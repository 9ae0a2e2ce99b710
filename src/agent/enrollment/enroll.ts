/**
 * Enrolling a device: trust the hub on first contact, send a CSR for a key
 * made here with the bootstrap token and the machine's facts, wait while an
 * admin approves, and keep the certificate.
 *
 * First contact: the device has no CA yet. Unless one is given (`caCert`) or
 * pinned (`caPin`, `sha256:<hex>` of the CA's SubjectPublicKeyInfo, like
 * kubeadm's `--discovery-token-ca-cert-hash`), the CA is fetched from
 * `/enroll/ca?tokenId=ID` without verification and accepted only if the HMAC
 * the hub sends (over a fresh nonce and the CA) verifies with the token's
 * secret: a man in the middle does not know it, so the token alone suffices,
 * as with kubeadm's token-signed cluster-info. Everything after that
 * verifies the hub against that CA. While the enrollment waits, the device
 * polls with requests signed by its enrollment key (poll.ts).
 */
import { createHash, createPublicKey, timingSafeEqual } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
// Types only: an enrolled agent's every later start never needs the API's schemas.
import type {
  DeviceFacts,
  EnrollmentCaResponse,
  EnrollmentResponse,
  EnrollRequest,
} from '../../api/index.ts';
import { delay, readFileIfExists, writeFileAtomic } from '../../util/index.ts';
import { credentialsOf, type DeviceCredentials, loadCredentials, saveCredentials } from './credentials.ts';
import { collectFacts } from './facts.ts';
import { callHub, EnrollmentError, refusal } from './hub-call.ts';
import { createCsr, generateKeyPem } from './keys.ts';
import { EnrollmentPoller } from './poll.ts';

/** Options of {@link enroll}. */
export interface EnrollOptions {
  /** The hub, e.g. `https://hub.example:6443`. */
  readonly hubUrl: string;
  /** The bootstrap token, `<id>.<secret>`. */
  readonly token: string;
  /** The device's name (a DNS-1123 subdomain). */
  readonly name: string;
  /** Where the key and credentials are kept (created with mode 0700). */
  readonly dataDir: string;
  /** The hub's CA as PEM, when known beforehand. */
  readonly caCert?: string;
  /** `sha256:<hex>` of the hub CA's SubjectPublicKeyInfo, when known beforehand. */
  readonly caPin?: string;
  /** Labels the device asks for; the hub refuses the enrollment (403) unless the bootstrap token allows each. */
  readonly labels?: Readonly<Record<string, string>>;
  /** The facts to report. @default collectFacts(dataDir) */
  readonly facts?: DeviceFacts;
  /** How often to ask while the enrollment waits for approval. @default 5000 */
  readonly pollIntervalMs?: number;
  /** Called each time the hub says the enrollment still waits for approval. */
  readonly onPending?: () => void;
  /** Gives up waiting. */
  readonly signal?: AbortSignal;
}

const PENDING_KEY = 'enrollment.key';
const PENDING_CA = 'enrollment-ca.crt';

/**
 * Enrolls the device and returns its credentials, also written to
 * `dataDir/kubeconfig`. Returns the existing credentials at once when the
 * device has enrolled before. A restart while approval is pending resumes
 * waiting with the same key rather than enrolling again.
 *
 * @throws EnrollmentError when the hub refuses (bad token, name taken, ...;
 *   `terminal` is true) or cannot be reached on the first request.
 */
export async function enroll(options: EnrollOptions): Promise<DeviceCredentials> {
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const existing = await loadCredentials(options.dataDir);
  if (existing) return existing;
  const hubUrl = options.hubUrl.replace(/\/+$/, '');
  const keyPath = join(options.dataDir, PENDING_KEY);
  const caPath = join(options.dataDir, PENDING_CA);
  const pendingKey = await readFileIfExists(keyPath);
  let caPem = (await readFileIfExists(caPath)) ?? (await trustHub(hubUrl, options));
  caPem = options.caCert ?? caPem;
  await writeFileAtomic(caPath, caPem, 0o644);
  const keyPem = pendingKey ?? (await generateKeyPem());
  // The key is on disk (0600) before the hub hears of it, so a crash never strands an enrollment.
  if (!pendingKey) await writeFileAtomic(keyPath, keyPem, 0o600);
  const tls = { ca: caPem };
  const poller = new EnrollmentPoller({
    hubUrl,
    name: options.name,
    keyPem,
    tls,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const poll = () => poller.poll();
  const post = async () => {
    const posted = await callHub<EnrollmentResponse>(`${hubUrl}/enroll`, {
      method: 'POST',
      tls,
      signal: options.signal,
      body: {
        token: options.token,
        name: options.name,
        csr: await createCsr(keyPem, options.name),
        facts: options.facts ?? (await collectFacts(options.dataDir)),
        ...(options.labels && Object.keys(options.labels).length > 0 ? { labels: options.labels } : {}),
      } satisfies EnrollRequest,
    });
    poller.learn(posted.hubTimeMs);
    return posted;
  };

  let answer = pendingKey ? await poll() : await post();
  if (pendingKey && answer.status === 401) {
    // Resuming, and the hub knows no enrollment of this key (never received, or deleted meanwhile):
    // enroll again; a name taken meanwhile is refused for the reason the poll gave.
    const posted = await post();
    if (posted.status !== 409) answer = posted;
  }
  for (;;) {
    if (answer.status === 200 || answer.status === 201) break;
    if (answer.status !== 202)
      throw refusal(`enrollment of ${options.name} refused`, answer.status, answer.body);
    options.onPending?.();
    await delay(options.pollIntervalMs ?? 5000, options.signal);
    try {
      answer = await poll();
    } catch (error) {
      // The hub went away while we wait: keep waiting.
      if (!(error instanceof EnrollmentError) || error.terminal) throw error;
    }
  }
  const certPem = answer.body.certificate;
  if (typeof certPem !== 'string')
    throw new EnrollmentError('the hub answered without a certificate', answer.status);
  const credentials = credentialsOf(options.dataDir, { hubUrl, keyPem, certPem, caPem });
  await saveCredentials(options.dataDir, credentials);
  await rm(keyPath, { force: true });
  await rm(caPath, { force: true });
  return credentials;
}

/** `sha256:<hex>` of a certificate's SubjectPublicKeyInfo: the form of `caPin`. */
export function caPinOf(certPem: string): string {
  const der = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** Gets the hub's CA on first contact and checks it (see the module comment). */
async function trustHub(hubUrl: string, options: EnrollOptions): Promise<string> {
  if (options.caCert) return options.caCert;
  // Loaded here, not with the module: an enrolled agent's every later start never needs the API's schemas.
  const { caSignature, hashTokenSecret, parseBootstrapToken } = await import('../../api/index.ts');
  const parts = parseBootstrapToken(options.token);
  if (!parts) throw new EnrollmentError('bootstrap token is malformed: expected <id>.<secret>', 400);
  const query = options.caPin ? '' : `?tokenId=${parts.id}`;
  const { status, body } = await callHub<EnrollmentCaResponse>(`${hubUrl}/enroll/ca${query}`, {
    method: 'GET',
    tls: {},
    signal: options.signal,
  });
  if (status !== 200 || typeof body.caCertificate !== 'string')
    throw refusal('cannot get the hub CA', status, body);
  const caPem = body.caCertificate;
  if (options.caPin) {
    if (caPinOf(caPem) !== options.caPin.toLowerCase())
      throw new EnrollmentError('the hub CA does not match the pinned hash: refusing to trust it', 495);
    return caPem;
  }
  const nonce = typeof body.nonce === 'string' ? body.nonce : '';
  const expected = Buffer.from(caSignature(hashTokenSecret(parts.secret), caPem, nonce));
  const actual = Buffer.from(typeof body.signature === 'string' ? body.signature : '');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual))
    throw new EnrollmentError(
      'the hub CA is not signed with this bootstrap token (a wrong or unknown token, or someone between this device and the hub): refusing to trust it',
      495,
    );
  return caPem;
}
