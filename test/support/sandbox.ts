/**
 * What the sandbox tests of both runtimes share: the snoop (issue 14's
 * attack as a shell script), a team's Workload, and the check that what the
 * snoop printed leaks nothing.
 */
import assert from 'node:assert/strict';

/**
 * The attack, as a shell script: everything it manages to read is printed
 * after a `LEAK` marker. `$DATA_DIR` and `$B_SECRET_FILE` name the paths an
 * attacker would find (by walking /proc to the agent's command line, by
 * guessing the layout); the test hands them over to make the attempt exact.
 */
export const SNOOP = String.raw`
echo "uid=$(id -u)"
echo "own=$(cat /etc/own/token)"
for f in "$DATA_DIR/kubeconfig" "$DATA_DIR/enrollment.key" "$B_SECRET_FILE" "$DATA_DIR"/process/units/*/volumes/*/* "$DATA_DIR"/podman/units/*/volumes/*/*; do
  if cat "$f" >/dev/null 2>&1; then echo "LEAK read $f:"; cat "$f"; fi
done
ls -a "$DATA_DIR" 2>/dev/null | grep -x -e kubeconfig -e agent.pid -e mailbox.json && echo "LEAK listed $DATA_DIR"
own=$(cat /etc/own/token)
for p in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)
  echo "saw $p $(printf '%s' "$cmd" | tr '\n' ' ' | cut -c1-60)"
  case "$cmd" in *"agent "--*) echo "LEAK found the agent: $p $cmd";; esac
  tr '\0' '\n' < "$p/environ" 2>/dev/null | grep OWN_SECRET= | grep -v "=$own$" && echo "LEAK environment of $p"
  cat "$p/root$DATA_DIR/kubeconfig" 2>/dev/null && echo "LEAK read through $p/root"
  cat "$p/root$B_SECRET_FILE" 2>/dev/null && echo "LEAK read through $p/root"
done
echo "snoop done"
exec sleep 3600
`.trim();

/** A team's Workload: a Secret and a Pod mounting it at /etc/own and reading it into its env. */
export function teamWorkload(
  namespace: string,
  name: string,
  secret: string,
  script: string,
  env: Record<string, string> = {},
) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: `${name}-secret` },
          data: { token: Buffer.from(secret).toString('base64') },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'main',
                image: 'localhost/busybox:latest',
                command: ['sh', '-c', script],
                env: [
                  ...Object.entries(env).map(([key, value]) => ({ name: key, value })),
                  {
                    name: 'OWN_SECRET',
                    valueFrom: { secretKeyRef: { name: `${name}-secret`, key: 'token' } },
                  },
                ],
                volumeMounts: [{ name: 'own', mountPath: '/etc/own', readOnly: true }],
              },
            ],
            volumes: [{ name: 'own', secret: { secretName: `${name}-secret` } }],
          },
        },
      ],
    },
  };
}

/** What a snoop printed must show it ran, read its own Secret, and found nothing of anyone else's. */
export function assertNothingLeaked(output: string, own: string, others: readonly string[]): void {
  assert.match(output, /snoop done/, output);
  assert.ok(output.includes(`own=${own}`), `the snoop reads its own Secret:\n${output}`);
  assert.doesNotMatch(output, /^LEAK/m, output);
  assert.doesNotMatch(output, /PRIVATE KEY|client-key-data|client-certificate-data/, output);
  for (const secret of others)
    assert.ok(!output.includes(secret), `another team's Secret leaked:\n${output}`);
}
