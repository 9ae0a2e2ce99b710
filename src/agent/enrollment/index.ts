/**
 * The agent's side of enrollment: a key made on the device, a CSR sent with a
 * bootstrap token, the certificate kept in `DATA_DIR/kubeconfig` (0600) and
 * renewed before it expires (or within the hub's grace period after). The
 * calls go through the agent's hub client (../hub-client/); what they send
 * and get back is the contract in src/api/enrollment.ts.
 *
 *   const credentials = await enroll({ hubUrl, token, name, dataDir });
 *   const renewal = startRenewal({ dataDir, credentials, onRenewed: useForNewConnections });
 */
export type { DeviceFacts } from '../../api/index.ts';
export { type DeviceCredentials, kubeconfigPathOf, loadCredentials } from './credentials.ts';
export { caPinOf, type EnrollOptions, enroll } from './enroll.ts';
export { collectFacts } from './facts.ts';
export { EnrollmentError } from './hub-call.ts';
export { createCsr, generateKeyPem, publicKeyHash, readCertificate } from './keys.ts';
export { type Renewal, type RenewalOptions, renewCredentials, startRenewal } from './renewal.ts';
