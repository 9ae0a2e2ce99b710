import { errors } from '../errors.ts';

/** How an answer is rendered. */
export type ResponseFormat = 'json' | 'table' | 'yaml';

interface MediaRange {
  readonly type: string;
  readonly params: Readonly<Record<string, string>>;
}

function parseAccept(header: string): MediaRange[] {
  return header.split(',').map((part) => {
    const [type = '', ...params] = part.split(';').map((piece) => piece.trim());
    return {
      type: type.toLowerCase(),
      params: Object.fromEntries(
        params.map((param) => {
          const [key = '', value = ''] = param.split('=').map((piece) => piece.trim());
          return [key, value];
        }),
      ),
    };
  });
}

/**
 * Chooses the format of an object or list answer from the `Accept` header,
 * in the client's order: a `meta.k8s.io` Table, JSON or YAML. Protobuf is not
 * served; a client that accepts nothing else gets 406.
 */
export function negotiateFormat(accept: string | undefined): ResponseFormat {
  if (!accept) return 'json';
  for (const range of parseAccept(accept)) {
    if (
      range.params.as === 'Table' &&
      range.params.g === 'meta.k8s.io' &&
      (range.params.v === 'v1' || range.params.v === 'v1beta1')
    ) {
      return 'table';
    }
    if (range.params.as) continue;
    if (range.type === 'application/json' || range.type === '*/*' || range.type === 'application/*')
      return 'json';
    if (range.type === 'application/yaml') return 'yaml';
  }
  throw errors.notAcceptable(
    'only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io',
  );
}
