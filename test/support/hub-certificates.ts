/**
 * Client certificates issued straight from a hub process's CA (its data dir's
 * `pki/ca.key`), for tests that play a device or a gateway's bridge without
 * enrolling one: a device's names its Device's uid, as enrollment's do.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCertificate, loadCertificateAuthority } from '../../src/hub/pki/index.ts';
import type { HubProcess } from './hub-process.ts';

/** PEM: the hub CA, a client certificate and its key. */
export interface ClientCredentials {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A client certificate from the hub's CA with this CN, O entries and URI SANs (an hour's lifetime). */
export async function issueClientCertificate(
  hub: Pick<HubProcess, 'dataDir'>,
  subject: { commonName: string; organizations?: readonly string[]; uris?: readonly string[] },
): Promise<ClientCredentials> {
  const pki = join(hub.dataDir, 'pki');
  const [caCert, caKey] = await Promise.all([
    readFile(join(pki, 'ca.crt'), 'utf8'),
    readFile(join(pki, 'ca.key'), 'utf8'),
  ]);
  const ca = await loadCertificateAuthority(caCert, caKey);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = await issueCertificate(ca, {
    commonName: subject.commonName,
    organizations: subject.organizations ?? [],
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    lifetimeSeconds: 3600,
    usage: 'client',
    uris: subject.uris ?? [],
  });
  return { ca: caCert, cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** Device `name`'s certificate, bound to its Device's `uid`. */
export function issueDeviceCertificate(
  hub: Pick<HubProcess, 'dataDir'>,
  name: string,
  uid: string,
): Promise<ClientCredentials> {
  return issueClientCertificate(hub, {
    commonName: `outpost:device:${name}`,
    organizations: ['outpost:devices'],
    uris: [`urn:outpost:device-uid:${uid}`],
  });
}

/** Gateway `name`'s bridge certificate (`outpost:gateway:<name>`), as the renderer issues it. */
export function issueBridgeCertificate(
  hub: Pick<HubProcess, 'dataDir'>,
  name: string,
): Promise<ClientCredentials> {
  return issueClientCertificate(hub, { commonName: `outpost:gateway:${name}` });
}
