/**
 * Every `outpost` command as commander sees it: names, arguments, options
 * and help text, and nothing else. This module loads commander alone, so
 * `outpost --help`, `outpost hub --help` and a mistyped command answer at
 * once; each action imports its command's module (the hub, the agent,
 * node-opcua...) only when it runs.
 */
import { type Command, Option } from 'commander';
import type { AgentFlags } from './agent-command.ts';
import type { SendFlags } from './command-command.ts';
import type { DashboardFlags } from './dashboard-command.ts';
import { CliError } from './errors.ts';
import type { HubFlags } from './hub-command.ts';
import type { ConnectionFlags } from './hub-connection.ts';
import type { LogsFlags } from './logs-command.ts';
import type { ObjectsFlags } from './objects-command.ts';
import type { ConnectorFlags, PlcSimFlags } from './opcua-command.ts';
import type { RolloutFlags } from './rollout-command.ts';
import type { TelemetryFlags } from './telemetry-command.ts';
import type { TokenCreateFlags } from './token-command.ts';
import type { UserCreateFlags, UserTokenFlags } from './user-command.ts';

const KUBECONFIG_HELP = 'admin kubeconfig (default: $KUBECONFIG or ~/.kube/config)';
const HUB_DATA_DIR_HELP = "the hub's data dir: use DIR/admin.kubeconfig";

/** Adds every command of `outpost` to `program`. */
export function defineCommands(program: Command): void {
  defineHub(program);
  defineAgent(program);
  defineToken(program);
  defineDevice(program);
  defineRollout(program);
  defineUser(program);
  defineDashboard(program);
  defineStore(program);
  defineLogs(program);
  defineObjects(program);
  defineTelemetry(program);
  defineCommand(program);
  defineOpcUa(program);
  defineDemo(program);
}

/** `--log-level` and `--log-format`, as every long-running command has them. */
function withLogOptions(command: Command, level = 'info'): Command {
  return command
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
        .default(level),
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'log lines as text (readable) or json (one object per line) (default: text on a terminal, else json)',
      ).choices(['text', 'json']),
    );
}

/** `--kubeconfig` and `--data-dir`, how admin commands find the hub. */
function withConnection(command: Command, kubeconfigHelp = KUBECONFIG_HELP): Command {
  return command.option('--kubeconfig <path>', kubeconfigHelp).option('--data-dir <dir>', HUB_DATA_DIR_HELP);
}

function defineHub(program: Command): void {
  withLogOptions(
    program
      .command('hub')
      .description('run the hub: the Kubernetes-compatible API that agents and kubectl talk to')
      .requiredOption(
        '--data-dir <dir>',
        'where the hub keeps its database, certificates and admin.kubeconfig',
      )
      .option('--listen <host:port>', 'address to listen on (port 0 picks a free port)', '127.0.0.1:6443')
      .option(
        '--store <url>',
        'object store: sqlite:PATH or postgres://USER@HOST:PORT/DB[?schema=NAME] (default: sqlite:DIR/outpost.db)',
      )
      .option(
        '--sqlite-synchronous <mode>',
        'SQLite durability: FULL (survives power loss) or NORMAL',
        'FULL',
      )
      .option(
        '--sqlite-commit <where>',
        'where SQLite commits: thread (a writer thread, the event loop never waits for fsync) or loop',
        'thread',
      )
      .option('--history <seconds>', 'how long watch history is kept', '300')
      .option(
        '--watch-bookmark-interval <duration>',
        'how often watches that allow bookmarks get one (whole seconds)',
        '10s',
      )
      .option(
        '--encryption-key-file <file>',
        'key file for secrets at rest, to share one key among replicas (default: DIR/encryption.key, created when missing)',
      )
      .option(
        '--encrypt-resources <list>',
        'resources encrypted at rest, comma-separated (default: secrets,workloads.outpost.dev,mailboxes.outpost.dev,placements.outpost.dev,opcuaconnectors.outpost.dev)',
      )
      .option(
        '--device-cert-lifetime <duration>',
        'lifetime of device certificates (e.g. 30d, 12h, 90s)',
        '30d',
      )
      .option('--device-renewal-grace <duration>', 'how long after expiry a device may still renew', '30d')
      .option(
        '--lease-duration <duration>',
        'leader election among replicas: how long the controllers lease outlives its last renewal',
        '15s',
      )
      .option(
        '--event-ttl <duration>',
        'how long Events are kept after they last happened (e.g. 1h, 30m, 2d)',
        '1h',
      )
      .option(
        '--require-device-bounds',
        'namespaces that no DeviceBoundary names place on no device (default: on any device)',
        false,
      )
      .option(
        '--objects <url>',
        'where uploaded objects go: s3://BUCKET[/PREFIX]?endpoint=URL&region=R (default: DATA_DIR/objects)',
      )
      .option(
        '--object-quota-bytes <bytes>',
        "each device's uploaded objects: at most this many bytes",
        '1073741824',
      )
      .option('--object-quota-objects <count>', "each device's uploaded objects: at most this many", '100000')
      .option(
        '--mqtt <url>',
        'bridge the embedded MQTT broker to an external one (mqtt://HOST:PORT): telemetry goes there, commands come from there',
      )
      .option(
        '--mqtt-tls-port <port>',
        "also serve the embedded MQTT broker over TLS on this port of the --listen host (0: a free one; hub CA client certificates required): top-level gateways' bridges connect there",
      ),
  ).action(async (flags: HubFlags) => (await import('./hub-command.ts')).runHubCommand(flags));
}

function defineAgent(program: Command): void {
  withLogOptions(
    program
      .command('agent')
      .description('run the edge agent: enroll, then sync, run and report what the hub places on this device')
      .requiredOption(
        '--data-dir <dir>',
        'where the agent keeps its credentials, local Mailbox copy, outbox and workloads',
      )
      .option('--hub <url>', 'the hub, e.g. https://hub.example:6443 (needed until the device has enrolled)')
      .addOption(
        new Option(
          '--token <token>',
          'bootstrap token <id>.<secret> (needed until the device has enrolled; the variable keeps it out of the process list)',
        ).env('OUTPOST_TOKEN'),
      )
      .option(
        '--proxy <url>',
        "the parent gateway's proxy (nested networks), e.g. http://10.0.3.1:3128: every connection to the hub goes through it; kept in the data dir (a token made with --parent carries it)",
      )
      .option('--name <name>', "the device's name (default: the host name)")
      .option(
        '--labels <k=v,...>',
        "the device's labels, asked for at enrollment: the bootstrap token must allow each (token create --allow-labels) or set it to the same value, else the enrollment is refused",
      )
      .option('--runtime <runtime>', 'how workloads run: process or podman', 'process')
      .option('--stop-workloads-on-exit', 'stop every workload when the agent stops', false)
      .option('--restart-backoff <ms>', 'first restart delay of a crashed process (process runtime)', '1000')
      .option(
        '--metrics-port <port>',
        'port of the metrics endpoint on 127.0.0.1 that local programs POST device metrics to (0: any free port, off: none)',
        '8080',
      )
      .option(
        '--metric-ttl <duration>',
        'how long a posted metric counts without a new POST (e.g. 60s, 5m)',
        '60s',
      )
      .option(
        '--reserve-memory <quantity>',
        'memory kept for the device: workloads whose requests would cut into it are refused (InsufficientMemory), and below it workloads are evicted (e.g. 256Mi, 1G, 10%)',
        '256Mi',
      )
      .option(
        '--reserve-disk <quantity>',
        "disk of the data dir's filesystem kept free, the same way (InsufficientDisk; e.g. 10%, 2Gi)",
        '10%',
      )
      .option(
        '--cgroups <mode>',
        'how containers’ resources.limits are enforced by the process runtime: auto (a cgroup per container where the host allows, else rlimits) or off (rlimits only)',
        'auto',
      ),
  ).action(async (flags: AgentFlags) => (await import('./agent-command.ts')).runAgentCommand(flags));
}

function defineToken(program: Command): void {
  const token = program.command('token').description('bootstrap tokens that let devices enroll');
  withConnection(
    token
      .command('create')
      .description('create a token and print it (once: only its hash is kept)')
      .option('--ttl <duration>', 'how long the token works (e.g. 1h, 7d)', '24h')
      .option('--labels <k=v,...>', 'labels every device enrolled with it gets')
      .option(
        '--allow-labels <k[=v|v...],...>',
        'labels a device may ask for (agent --labels): KEY or KEY=* any value, KEY=V1|V2 those values; any other is refused',
      )
      .option('--max-uses <n>', 'how many devices may enroll with it', '1')
      .option('--approve <mode>', 'auto: sign at once; manual: wait for `outpost device approve`', 'auto')
      .option('--description <text>', 'what the token is for')
      .option(
        '--parent <device>',
        "nested networks: the gateway the devices sit behind (their spec.parent); the token printed carries the gateway's proxy URL, so the agent enrolls through it",
      )
      .option('--level <n>', "with --parent: the devices' ISA-95 level (default: one below the parent's)"),
  ).action(async (flags: TokenCreateFlags) => (await import('./token-command.ts')).runTokenCreate(flags));
  withConnection(token.command('list').description('list tokens (never their secrets)')).action(
    async (flags: ConnectionFlags) => (await import('./token-command.ts')).runTokenList(flags),
  );
  withConnection(
    token
      .command('revoke')
      .description('delete a token: no device can enroll with it any more')
      .argument('<id>'),
  ).action(async (id: string, flags: ConnectionFlags) =>
    (await import('./token-command.ts')).runTokenRevoke(id, flags),
  );
}

function defineDevice(program: Command): void {
  const device = program.command('device').description('enrolled devices');
  withConnection(
    device
      .command('approve')
      .description('let a device that enrolled with a manual-approval token get its certificate')
      .argument('<name>'),
  ).action(async (name: string, flags: ConnectionFlags) =>
    (await import('./device-command.ts')).runDeviceApprove(name, flags),
  );
  withConnection(device.command('list').description('list devices with their approval and phase')).action(
    async (flags: ConnectionFlags) => (await import('./device-command.ts')).runDeviceList(flags),
  );
}

function defineUser(program: Command): void {
  const user = program
    .command('user')
    .description('manage people who use the hub (client certificates, bearer tokens)');
  user
    .command('create <name>')
    .description("issue a client certificate signed by the hub's CA and write a kubeconfig for it")
    .option(
      '--group <group>',
      'a group the user is in (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option('--data-dir <dir>', "the hub's data dir", '.')
    .option('--out <file>', 'where to write the kubeconfig (default: ./NAME.kubeconfig)')
    .option('--server <url>', "the hub's URL (default: the server of DIR/admin.kubeconfig)")
    .option('--ttl <duration>', 'certificate lifetime, e.g. 90d or 8h', '365d')
    .action(async (name: string, flags: UserCreateFlags) =>
      (await import('./user-command.ts')).runUserCreate(name, flags),
    );
  user
    .command('token <name>')
    .description(
      "issue a bearer token for a person, signed by the hub's CA key and checked by RBAC as a certificate is",
    )
    .option(
      '--group <group>',
      'a group the user is in (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option('--data-dir <dir>', "the hub's data dir", '.')
    .option('--ttl <duration>', 'token lifetime, e.g. 8h or 30m', '8h')
    .action(async (name: string, flags: UserTokenFlags) =>
      (await import('./user-command.ts')).runUserToken(name, flags),
    );
}

function defineDashboard(program: Command): void {
  withConnection(
    program
      .command('dashboard')
      .description(
        'serve the web dashboard on 127.0.0.1 through a local proxy authenticated with the kubeconfig (as kubectl proxy)',
      )
      .option('--port <port>', 'the local port (0: any free one)', '0')
      .option('--open', "open the dashboard in the desktop's browser"),
  ).action(async (flags: DashboardFlags) => (await import('./dashboard-command.ts')).runDashboard(flags));
}

function defineStore(program: Command): void {
  const store = program.command('store').description('manage the hub object store');
  store
    .command('migrate')
    .description(
      'copy every object, with its resourceVersion, from a SQLite store to a PostgreSQL one (stop the hub first)',
    )
    .requiredOption('--from <url>', 'source store: sqlite:PATH')
    .requiredOption('--to <url>', 'target store: postgres://USER@HOST:PORT/DB[?schema=NAME]')
    .option(
      '--merge',
      'accept a non-empty target: copy only the objects it lacks (keys it has keep its values; objects whose resourceVersion it already used are skipped); reported on stderr',
    )
    .action(async (flags: { from: string; to: string; merge?: boolean }) =>
      (await import('./store-command.ts')).migrateStore(flags, (line) => process.stderr.write(`${line}\n`)),
    );
}

function defineRollout(program: Command): void {
  const rollout = program
    .command('rollout')
    .description("a Placement's rollout of its Workloads' revisions, as kubectl rollout");
  const sub = (name: string, description: string) =>
    withConnection(
      rollout
        .command(name)
        .description(description)
        .argument('<placement>')
        .option('-n, --namespace <namespace>', "the Placement's namespace", 'default'),
    );
  const load = () => import('./rollout-command.ts');
  sub('status', 'the revision rolling out, the batch in progress and its counts')
    .option('-w, --watch', 'wait until the rollout is complete or rolled back (exit code 1)', false)
    .action(async (name: string, flags: RolloutFlags) => (await load()).runRolloutStatus(name, flags));
  sub('history', 'the revisions kept').action(async (name: string, flags: RolloutFlags) =>
    (await load()).runRolloutHistory(name, flags),
  );
  sub('pause', 'start no further batch').action(async (name: string, flags: RolloutFlags) =>
    (await load()).runRolloutPause(name, true, flags),
  );
  sub('resume', 'let batches start again').action(async (name: string, flags: RolloutFlags) =>
    (await load()).runRolloutPause(name, false, flags),
  );
  sub('approve', 'release the batch waiting for a manual approval').action(
    async (name: string, flags: RolloutFlags) => (await load()).runRolloutApprove(name, flags),
  );
  sub('undo', "write an earlier revision's Workloads back (rolled out as a new revision)")
    .option(
      '--to-revision <n>',
      'the revision to go back to (default: the newest that differs from the latest)',
    )
    .action(async (name: string, flags: RolloutFlags) => (await load()).runRolloutUndo(name, flags));
}

function defineObjects(program: Command): void {
  const objects = program
    .command('objects')
    .description("files devices' workloads uploaded, through the hub");
  const common = (command: Command) =>
    command
      .option('-n, --namespace <namespace>', "the workloads' namespace", 'default')
      .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
      .option('--data-dir <dir>', HUB_DATA_DIR_HELP);
  common(
    objects
      .command('ls')
      .description('list objects: of every device, of DEVICE, or under DEVICE/PATH')
      .argument('[target]', 'DEVICE or DEVICE/PATH'),
  ).action(async (target: string | undefined, flags: ObjectsFlags) =>
    (await import('./objects-command.ts')).runObjectsList(target, flags),
  );
  common(
    objects
      .command('get')
      .description('download the object DEVICE/WORKLOAD/PATH')
      .argument('<path>', 'DEVICE/WORKLOAD/PATH')
      .option('-o, --output <file>', 'write to FILE (default: stdout)'),
  ).action(async (path: string, flags: ObjectsFlags & { output?: string }) =>
    (await import('./objects-command.ts')).runObjectsGet(path, flags),
  );
  common(
    objects
      .command('rm')
      .description('remove the object DEVICE/WORKLOAD/PATH')
      .argument('<path>', 'DEVICE/WORKLOAD/PATH'),
  ).action(async (path: string, flags: ObjectsFlags) =>
    (await import('./objects-command.ts')).runObjectsRemove(path, flags),
  );
}

function defineLogs(program: Command): void {
  program
    .command('logs')
    .description("print a workload's output on a device, through the hub")
    .argument('<device>', 'the device the workload runs on')
    .argument('<workload>', 'the Workload')
    .option('-n, --namespace <namespace>', "the Workload's namespace", 'default')
    .option('-c, --container <name>', 'the container (default: the first)')
    .option('--tail <lines>', 'only the last N lines of what is stored')
    .option('-f, --follow', 'keep printing new output until interrupted')
    .option('-p, --previous', "a cron Workload's last finished run (its exit code on stderr)")
    .option('--run <n>', "a cron Workload's run N, as its status lists them (default: the newest)")
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--data-dir <dir>', HUB_DATA_DIR_HELP)
    .action(async (device: string, workload: string, flags: LogsFlags) =>
      (await import('./logs-command.ts')).runLogs(device, workload, flags),
    );
}

function defineTelemetry(program: Command): void {
  const telemetry = program.command('telemetry').description("connectors' values as they reach the hub");
  const flags = (command: Command) =>
    withConnection(
      command
        .option('--device <name>', "only this device's values")
        .option('--connector <name>', "only this connector's values")
        .option('-n, --namespace <namespace>', "the connectors' namespace", 'default')
        .option('-A, --all-namespaces', 'connectors of every namespace'),
      'kubeconfig (default: $KUBECONFIG or ~/.kube/config)',
    );
  flags(
    telemetry.command('watch').description('print the latest values, then every new one until interrupted'),
  ).action(async (options: TelemetryFlags) =>
    (await import('./telemetry-command.ts')).runTelemetry(options, true),
  );
  flags(telemetry.command('get').description('print the latest value of every feature')).action(
    async (options: TelemetryFlags) => (await import('./telemetry-command.ts')).runTelemetry(options, false),
  );
}

function defineCommand(program: Command): void {
  const command = program.command('command').description('write values through connectors');
  withConnection(
    command
      .command('send')
      .description("write VALUE to a connector's FEATURE and print the acknowledgement")
      .argument('<connector>', 'the OpcUaConnector')
      .argument('<feature>', 'one of its subscriptions (e.g. setpoint)')
      .argument('<value>', 'the value: JSON when it parses (55, true, "text"), else a string')
      .option('--device <name>', 'the device (needed when several run the connector)')
      .option('-n, --namespace <namespace>', "the connector's namespace", 'default'),
    'kubeconfig (default: $KUBECONFIG or ~/.kube/config)',
  ).action(async (connector: string, feature: string, value: string, flags: SendFlags) =>
    (await import('./command-command.ts')).runCommandSend(connector, feature, value, flags),
  );
}

function defineOpcUa(program: Command): void {
  withLogOptions(
    program
      .command('plc-sim')
      .description('run a simulated PLC: an OPC UA server with Temperature, Pressure and writable set points')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'TCP port (0: a free one, printed)', '4840')
      .option('--interval <duration>', 'how often the values change, e.g. 100ms or 1s', '1s')
      .option('--user <user:password>', 'accept only this user (no anonymous sessions)')
      .option('--nodes <n>', 'extra nodes ns=2;s=Node0.. that change on every tick (benchmarks)', '0')
      .option(
        '--pki-dir <dir>',
        "the server's certificate store (default: a temporary directory, removed on exit)",
      ),
    'warn',
  ).action(async (flags: PlcSimFlags) => (await import('./opcua-command.ts')).runPlcSim(flags));
  withLogOptions(
    program
      .command('opcua-connector')
      .description(
        'run the OPC UA connector: OPC UA values to MQTT telemetry, MQTT commands to OPC UA writes',
      )
      .requiredOption('--config <file>', 'the connector config (config.yaml, as the hub renders it)')
      .option('--mqtt <url>', 'the MQTT broker (default: $OUTPOST_MQTT_URL)')
      .option(
        '--pki-dir <dir>',
        "the client's certificate store (default: $OUTPOST_CONNECTOR_PKI_DIR, else a directory under the temp dir)",
      ),
  ).action(async (flags: ConnectorFlags) => (await import('./opcua-command.ts')).runOpcUaConnector(flags));
}

function defineDemo(program: Command): void {
  program
    .command('demo')
    .description('the demo (as npm start): a hub, the PLC simulator and an agent running an OPC UA connector')
    .option(
      '--nested',
      'a nested network instead (root only): levels 4, 3 and 2 in network namespaces, values through two broker bridges',
      false,
    )
    .action(async (flags: { nested: boolean }) => {
      if (!flags.nested) {
        // The demo runs as its module loads (npm start runs the same file).
        await import('../demo/main.ts');
        return;
      }
      const { nestedDemoUnavailable, runNestedDemo } = await import('../demo/nested.ts');
      const reason = nestedDemoUnavailable();
      if (reason) throw new CliError(reason, 2);
      await runNestedDemo();
    });
}
