/**
 * The certificates of a gateway's broker, issued by the hub CA and carried
 * in the gateway's Workload as a Secret (Workloads are encrypted at rest):
 * a serving certificate for the address the level below dials
 * (`spec.gateway.address`), which the children's agents verify as they
 * verify the hub, and a client certificate for its bridge to its parent's
 * broker (CN `outpost:gateway:<name>`, which the hub's own authenticator
 * refuses). Both are kept from the live Workload while they still fit
 * (same CA, key, name, address, over 30 days left), so re-rendering with
 * nothing changed writes nothing and restarts nothing.
 */
import type { Device, KubeObject } from '../../../api/index.ts';
import { GATEWAY_BRIDGE_USER_PREFIX } from '../../auth/index.ts';
import { type CertificateAuthority, keepOrIssueLeaf, splitHosts } from '../../pki/index.ts';
import { type GatewayTls, tlsSecretName } from './render.ts';

/** The gateway's broker certificates: those in `live` (its Workload) while they fit, else new ones. */
export async function gatewayTls(
  ca: CertificateAuthority,
  device: KubeObject,
  live: KubeObject | undefined,
  now = new Date(),
): Promise<GatewayTls> {
  const name = device.metadata.name!;
  const held = heldFiles(live, tlsSecretName(name));
  const address = (device.spec as Device['spec'])?.gateway?.address;
  const commonName = `${GATEWAY_BRIDGE_USER_PREFIX}${name}`;
  const server = await keepOrIssueLeaf(
    ca,
    { certPem: held['tls.crt'], keyPem: held['tls.key'] },
    { commonName, organizations: [], usage: 'server', hosts: splitHosts(address ? [address] : []) },
    now,
  );
  const bridge = await keepOrIssueLeaf(
    ca,
    { certPem: held['bridge.crt'], keyPem: held['bridge.key'] },
    { commonName, organizations: [], usage: 'client' },
    now,
  );
  return {
    caPem: ca.certPem,
    server: { certPem: server.certPem, keyPem: server.keyPem },
    bridge: { certPem: bridge.certPem, keyPem: bridge.keyPem },
  };
}

/** The files of the Secret `secretName` inside a Workload, decoded. */
function heldFiles(workload: KubeObject | undefined, secretName: string): Record<string, string | undefined> {
  const resources = ((workload?.spec as { resources?: KubeObject[] } | undefined)?.resources ?? []).filter(
    (r) => r.kind === 'Secret' && r.metadata?.name === secretName,
  );
  const data = ((resources[0] as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<
    string,
    string
  >;
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
  );
}
