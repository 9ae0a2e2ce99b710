/**
 * The OPC UA connector's config format (`config.yaml`): the contract between the hub, which
 * renders it for an `OpcUaConnector` (`src/hub/controllers/opcua/`), and the connector program
 * that reads it (`src/connectors/opcua/`), so that neither imports the other.
 */
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { parse as parseYaml } from 'yaml';

/** The OPC UA security modes the connector supports. */
export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
/** The OPC UA security policies the connector supports. */
export const SECURITY_POLICIES = [
  'None',
  'Basic256Sha256',
  'Aes128_Sha256_RsaOaep',
  'Aes256_Sha256_RsaPss',
] as const;

/**
 * An OPC UA node id in its string form: `ns=2;s=Temperature`, `i=2258`,
 * `ns=1;g=<guid>`, `ns=3;b=<base64>`, or with a namespace URI `nsu=URI;s=...`.
 */
export const NODE_ID_PATTERN = '^((ns=\\d+|nsu=[^;]+);)?(i=\\d+|s=.+|g=[0-9A-Fa-f-]{36}|b=[A-Za-z0-9+/=]+)$';
const NODE_ID = new RegExp(NODE_ID_PATTERN);

/** Whether `text` is an OPC UA node id in string form (see {@link NODE_ID_PATTERN}). */
export function isNodeId(text: string): boolean {
  return NODE_ID.test(text);
}

/** A feature name: a topic segment (no `/`, `+`, `#`), as in `temperature`. */
export const FEATURE_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';

/**
 * The connector's `config.yaml` (the key of the Secret the hub renders for an
 * `OpcUaConnector`). The broker's URL is not in it: the connector reads
 * `OUTPOST_MQTT_URL` from its environment.
 */
export const ConnectorConfigSchema = Type.Object(
  {
    connector: Type.Object(
      {
        namespace: Type.String({ minLength: 1, pattern: '^[^/+#]+$' }),
        name: Type.String({ minLength: 1, pattern: '^[^/+#]+$' }),
      },
      { description: 'The OpcUaConnector this config was rendered from: the topics carry it.' },
    ),
    server: Type.String({
      pattern: '^opc\\.tcp://[^/\\s]+(/\\S*)?$',
      description: 'An opc.tcp:// endpoint URL.',
    }),
    securityMode: Type.Optional(Type.Enum([...SECURITY_MODES], { description: '@default None' })),
    securityPolicy: Type.Optional(Type.Enum([...SECURITY_POLICIES], { description: '@default None' })),
    credentials: Type.Optional(
      Type.Object(
        { username: Type.String({ minLength: 1 }), password: Type.String() },
        { description: 'A user name and password; anonymous when absent.' },
      ),
    ),
    samplingIntervalMs: Type.Optional(Type.Number({ minimum: 0, description: '@default 1000' })),
    publishingIntervalMs: Type.Optional(Type.Number({ minimum: 10, description: '@default 1000' })),
    subscriptions: Type.Record(
      Type.String({ pattern: FEATURE_PATTERN }),
      Type.String({ pattern: NODE_ID_PATTERN }),
      {
        description: 'feature -> node id, e.g. temperature: "ns=2;s=Temperature".',
      },
    ),
  },
  { additionalProperties: false },
);

/** The connector's configuration as written in `config.yaml` (see {@link ConnectorConfigSchema}). */
export type ConnectorConfig = Type.Static<typeof ConnectorConfigSchema>;

/** A {@link ConnectorConfig} with every default applied. */
export type ResolvedConnectorConfig = ConnectorConfig &
  Required<
    Pick<ConnectorConfig, 'securityMode' | 'securityPolicy' | 'samplingIntervalMs' | 'publishingIntervalMs'>
  >;

/** A config file that does not satisfy {@link ConnectorConfigSchema}; the message names the fields. */
export class ConnectorConfigError extends Error {
  constructor(
    message: string,
    /** Each problem: the field's path (`credentials.username`) and what is wrong with it. */
    readonly problems: readonly { field: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ConnectorConfigError';
  }
}

const validator = Compile(ConnectorConfigSchema);

/**
 * Parses and validates a config (YAML or JSON text, or an already parsed
 * value), applying the defaults. Throws {@link ConnectorConfigError} naming
 * every bad field.
 */
export function parseConnectorConfig(input: string | unknown, source = 'config'): ResolvedConnectorConfig {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = parseYaml(input);
    } catch (error) {
      throw new ConnectorConfigError(`${source}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ConnectorConfigError(`${source}: expected a mapping with connector, server and subscriptions`);
  const problems = schemaProblems(value);
  if (problems.length === 0) {
    const config = value as ConnectorConfig;
    if (Object.keys(config.subscriptions).length === 0)
      problems.push({ field: 'subscriptions', message: 'needs at least one feature' });
    if ((config.securityMode ?? 'None') === 'None' && (config.securityPolicy ?? 'None') !== 'None')
      problems.push({
        field: 'securityMode',
        message: `must be Sign or SignAndEncrypt with securityPolicy ${config.securityPolicy}`,
      });
    if ((config.securityMode ?? 'None') !== 'None' && (config.securityPolicy ?? 'None') === 'None')
      problems.push({
        field: 'securityPolicy',
        message: `must not be None with securityMode ${config.securityMode}`,
      });
  }
  if (problems.length > 0) {
    const text = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
    throw new ConnectorConfigError(`${source}: ${text}`, problems);
  }
  const config = value as ConnectorConfig;
  return {
    ...config,
    securityMode: config.securityMode ?? 'None',
    securityPolicy: config.securityPolicy ?? 'None',
    samplingIntervalMs: config.samplingIntervalMs ?? 1000,
    publishingIntervalMs: config.publishingIntervalMs ?? 1000,
  };
}

/** The schema's complaints about `value`, one per field, with the field's dotted path. */
function schemaProblems(value: unknown): { field: string; message: string }[] {
  if (validator.Check(value)) return [];
  const seen = new Map<string, string>();
  for (const error of validator.Errors(value)) {
    const { field, message } = describeError(error as unknown as SchemaError);
    if (!seen.has(field)) seen.set(field, message);
  }
  return [...seen].map(([field, message]) => ({ field, message }));
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

function describeError(error: SchemaError): { field: string; message: string } {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params.requiredProperties as string[] | undefined)?.[0] ?? '';
      return { field: path ? `${path}.${missing}` : missing, message: 'is required' };
    }
    case 'additionalProperties': {
      const extra = (error.params.additionalProperties as string[] | undefined)?.[0] ?? '';
      return { field: path ? `${path}.${extra}` : extra, message: 'is not a known field' };
    }
    case 'enum': {
      const allowed = (error.params.allowedValues as unknown[] | undefined) ?? [];
      return { field: path, message: `must be one of ${allowed.join(', ')}` };
    }
    case 'pattern':
      return { field: path, message: patternMessage(path) };
    default:
      return { field: path || '(root)', message: error.message };
  }
}

function patternMessage(path: string): string {
  if (path === 'server') return 'must be an opc.tcp:// URL, e.g. opc.tcp://127.0.0.1:4840/UA/Outpost';
  if (path.startsWith('subscriptions.'))
    return 'must be an OPC UA node id such as ns=2;s=Temperature or i=2258';
  if (path.startsWith('connector.')) return 'must not contain /, + or #';
  return 'has an invalid format';
}
