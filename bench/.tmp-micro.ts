import { readFileSync } from 'node:fs';
import { checkCsr, signDeviceCertificate } from '../src/hub/enrollment/signer.ts';
import { createCertificateAuthority } from '../src/hub/pki/index.ts';
const csrs: string[] = JSON.parse(readFileSync('/tmp/ep/csrs.json', 'utf8')).slice(0, 1000);
const { ca } = await createCertificateAuthority();
const time = async (name: string, fn: (i: number) => unknown) => {
  for (let i = 0; i < 200; i++) await fn(i);
  const t = process.cpuUsage();
  for (let i = 0; i < csrs.length; i++) await fn(i);
  const u = process.cpuUsage(t);
  console.log(name, ((u.user + u.system) / csrs.length / 1000).toFixed(3), 'ms');
};
const checked = await Promise.all(csrs.map((c, i) => checkCsr(c, `bench-${i}`)));
await time('checkCsr', (i) => checkCsr(csrs[i]!, `bench-${i}`));
await time('sign', (i) => signDeviceCertificate(ca, { name: `bench-${i}`, uid: 'abc', publicKey: checked[i]!.publicKey, lifetimeSeconds: 86400 * 30, now: new Date() }));
