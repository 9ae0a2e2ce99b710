/**
 * The `paths` of the OpenAPI documents: the resource URLs of each kind with one operation per
 * served verb, tagged with `x-kubernetes-action` and `x-kubernetes-group-version-kind` (kubectl
 * finds a resource's kind through them in `kubectl explain`, and reads the PATCH operation's
 * parameters and body types to decide on server-side field validation and strategic merge patch).
 */
import type { KindDefinition } from '../../../api/index.ts';
import { verbsOf } from '../discovery/index.ts';
import { PATCH_CONTENT_TYPES } from '../service/index.ts';
import { definitionName, groupVersionKind, META } from './meta-schemas.ts';
import { definitionRef, type JsonObject, type OpenApiDialect } from './schema-conversion.ts';

interface Parameter {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'boolean';
  readonly description: string;
}

const param = (name: string, type: Parameter['type'], description: string): Parameter => ({
  name,
  type,
  description,
});

const PRETTY = param('pretty', 'string', "If 'true', the output is pretty printed.");
const LIST_PARAMS = [
  param('labelSelector', 'string', 'A selector to restrict the list of returned objects by their labels.'),
  param('fieldSelector', 'string', 'A selector to restrict the list of returned objects by their fields.'),
  param('limit', 'integer', 'The maximum number of objects to return; the rest is reached with continue.'),
  param('continue', 'string', 'The continue token of the previous page.'),
  param('resourceVersion', 'string', 'The resource version to list at or watch from.'),
  param('resourceVersionMatch', 'string', 'How resourceVersion applies to a list: Exact or NotOlderThan.'),
  param('timeoutSeconds', 'integer', 'Timeout for the list or watch call.'),
];
const WATCH_PARAMS = [
  param('watch', 'boolean', 'Watch for changes to the described resources and return them as a stream.'),
  param('allowWatchBookmarks', 'boolean', 'Ask for BOOKMARK events in a watch.'),
  param('sendInitialEvents', 'boolean', 'Start a watch with the current state as ADDED events.'),
];
const WRITE_PARAMS = [
  param('dryRun', 'string', 'All: validate and answer as if written, without persisting.'),
  param('fieldManager', 'string', 'The name of the actor making the change, for managedFields.'),
  param('fieldValidation', 'string', 'Ignore, Warn or Strict: how unknown and duplicate fields are handled.'),
];
const DELETE_PARAMS = [
  param('dryRun', 'string', 'All: validate and answer as if deleted, without persisting.'),
  param('gracePeriodSeconds', 'integer', 'Seconds before the object is deleted.'),
  param(
    'propagationPolicy',
    'string',
    'Orphan, Background or Foreground: how dependents are garbage collected.',
  ),
];
const FORCE = param('force', 'boolean', 'Take over fields owned by other managers in an apply patch.');

interface Operation {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  readonly action: string;
  readonly operationId: string;
  readonly description: string;
  readonly query: readonly Parameter[];
  readonly body?: { readonly definition: string; readonly contentTypes: readonly string[] };
  /** Status code to the definition answered. */
  readonly responses: Readonly<Record<string, string>>;
  readonly produces: readonly string[];
}

interface PathModel {
  readonly path: string;
  readonly pathParams: readonly ('namespace' | 'name')[];
  readonly operations: readonly Operation[];
}

const JSON_TYPES = ['application/json', 'application/yaml'];

/** `outpost.dev` → `OutpostDev`, `` → `Core`. */
function camelGroup(group: string): string {
  if (group === '') return 'Core';
  return group
    .split(/[.-]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** The paths of one kind: the collection, the object, its status, and (namespaced) the list across namespaces. */
function kindPaths(def: KindDefinition): PathModel[] {
  const verbs = new Set(verbsOf(def));
  const root = def.group === '' ? `/api/${def.version}` : `/apis/${def.group}/${def.version}`;
  const scope = def.namespaced ? 'Namespaced' : '';
  const prefix = def.namespaced ? `${root}/namespaces/{namespace}/${def.plural}` : `${root}/${def.plural}`;
  const scopeParams: PathModel['pathParams'] = def.namespaced ? ['namespace'] : [];
  const id = (verb: string, suffix = '') =>
    `${verb}${camelGroup(def.group)}${capitalize(def.version)}${scope}${def.kind}${suffix}`;
  const object = definitionName(def);
  const list = definitionName(def, 'List');
  const watchable = verbs.has('watch');
  const listOperation = (operationId: string, description: string): Operation => ({
    method: 'get',
    action: 'list',
    operationId,
    description,
    query: [...LIST_PARAMS, ...(watchable ? WATCH_PARAMS : []), PRETTY],
    responses: { '200': list },
    produces: watchable ? [...JSON_TYPES, 'application/json;stream=watch'] : JSON_TYPES,
  });
  const patchTypes = Object.entries(PATCH_CONTENT_TYPES)
    .filter(([, type]) => type !== 'strategic' || def.strategicMergePatch)
    .map(([contentType]) => contentType);
  const objectOperations = (suffix: string, what: string): Operation[] => [
    ...(verbs.has('get')
      ? [
          {
            method: 'get',
            action: 'get',
            operationId: id('read', suffix),
            description: `read ${what}`,
            query: [PRETTY],
            responses: { '200': object },
            produces: JSON_TYPES,
          } as const,
        ]
      : []),
    ...(verbs.has('update')
      ? [
          {
            method: 'put',
            action: 'put',
            operationId: id('replace', suffix),
            description: `replace ${what}`,
            query: [...WRITE_PARAMS, PRETTY],
            body: { definition: object, contentTypes: ['*/*'] },
            responses: { '200': object, '201': object },
            produces: JSON_TYPES,
          } as const,
        ]
      : []),
    ...(verbs.has('patch')
      ? [
          {
            method: 'patch',
            action: 'patch',
            operationId: id('patch', suffix),
            description: `partially update ${what}`,
            query: [...WRITE_PARAMS, FORCE, PRETTY],
            body: { definition: META.patch, contentTypes: patchTypes },
            responses: { '200': object, '201': object },
            produces: JSON_TYPES,
          } as const,
        ]
      : []),
  ];

  const paths: PathModel[] = [];
  const collection: Operation[] = [];
  if (verbs.has('list'))
    collection.push(listOperation(id('list'), `list or watch objects of kind ${def.kind}`));
  if (verbs.has('create')) {
    collection.push({
      method: 'post',
      action: 'post',
      operationId: id('create'),
      description: `create a ${def.kind}`,
      query: [...WRITE_PARAMS, PRETTY],
      body: { definition: object, contentTypes: ['*/*'] },
      responses: { '200': object, '201': object, '202': object },
      produces: JSON_TYPES,
    });
  }
  if (verbs.has('deletecollection')) {
    collection.push({
      method: 'delete',
      action: 'deletecollection',
      operationId: id('deleteCollection'),
      description: `delete collection of ${def.kind}`,
      query: [...DELETE_PARAMS, ...LIST_PARAMS, PRETTY],
      body: { definition: META.deleteOptions, contentTypes: ['*/*'] },
      responses: { '200': META.status },
      produces: JSON_TYPES,
    });
  }
  if (collection.length > 0) paths.push({ path: prefix, pathParams: scopeParams, operations: collection });

  const single = objectOperations('', `the specified ${def.kind}`);
  if (verbs.has('delete')) {
    single.push({
      method: 'delete',
      action: 'delete',
      operationId: id('delete'),
      description: `delete a ${def.kind}`,
      query: [...DELETE_PARAMS, PRETTY],
      body: { definition: META.deleteOptions, contentTypes: ['*/*'] },
      responses: { '200': META.status, '202': META.status },
      produces: JSON_TYPES,
    });
  }
  if (single.length > 0)
    paths.push({ path: `${prefix}/{name}`, pathParams: [...scopeParams, 'name'], operations: single });

  if (def.statusSubresource) {
    const status = objectOperations('Status', `status of the specified ${def.kind}`);
    if (status.length > 0)
      paths.push({
        path: `${prefix}/{name}/status`,
        pathParams: [...scopeParams, 'name'],
        operations: status,
      });
  }
  if (def.namespaced && verbs.has('list')) {
    const operation = listOperation(
      `list${camelGroup(def.group)}${capitalize(def.version)}${def.kind}ForAllNamespaces`,
      `list or watch objects of kind ${def.kind} in all namespaces`,
    );
    paths.push({ path: `${root}/${def.plural}`, pathParams: [], operations: [operation] });
  }
  return paths;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The `paths` object of the given kinds, in the dialect. */
export function openApiPaths(kinds: readonly KindDefinition[], dialect: OpenApiDialect): JsonObject {
  const paths: JsonObject = {};
  for (const def of kinds) {
    const tag = `${camelGroup(def.group).charAt(0).toLowerCase()}${camelGroup(def.group).slice(1)}_${def.version}`;
    for (const model of kindPaths(def)) {
      const item: JsonObject = {
        parameters: [
          ...model.pathParams.map((name) =>
            parameterObject(
              dialect,
              {
                name,
                type: 'string',
                description: `${name} of the ${name === 'name' ? def.kind : 'object'}`,
              },
              'path',
            ),
          ),
        ],
      };
      for (const operation of model.operations) {
        item[operation.method] = operationObject(dialect, def, tag, operation);
      }
      paths[model.path] = item;
    }
  }
  return paths;
}

function parameterObject(
  dialect: OpenApiDialect,
  parameter: Parameter,
  location: 'query' | 'path',
): JsonObject {
  const base: JsonObject = {
    name: parameter.name,
    in: location,
    description: parameter.description,
    uniqueItems: true,
  };
  if (location === 'path') base.required = true;
  return dialect === 'v2' ? { ...base, type: parameter.type } : { ...base, schema: { type: parameter.type } };
}

function operationObject(
  dialect: OpenApiDialect,
  def: KindDefinition,
  tag: string,
  operation: Operation,
): JsonObject {
  const parameters = operation.query.map((parameter) => parameterObject(dialect, parameter, 'query'));
  const responses: JsonObject = {};
  for (const [code, definition] of Object.entries(operation.responses)) {
    const schema = definitionRef(dialect, definition);
    responses[code] =
      dialect === 'v2'
        ? { description: code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK', schema }
        : {
            description: code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK',
            content: Object.fromEntries(operation.produces.map((type) => [type, { schema }])),
          };
  }
  responses['401'] = { description: 'Unauthorized' };
  const result: JsonObject = {
    tags: [tag],
    description: operation.description,
    operationId: operation.operationId,
  };
  if (dialect === 'v2') {
    if (operation.body) {
      parameters.unshift({
        name: 'body',
        in: 'body',
        required: operation.method !== 'delete',
        schema: definitionRef(dialect, operation.body.definition),
      });
      result.consumes = [...operation.body.contentTypes];
    }
    result.produces = [...operation.produces];
    result.schemes = ['https'];
  } else if (operation.body) {
    const schema = definitionRef(dialect, operation.body.definition);
    result.requestBody = {
      content: Object.fromEntries(operation.body.contentTypes.map((type) => [type, { schema }])),
      required: operation.method !== 'delete',
    };
  }
  result.parameters = parameters;
  result.responses = responses;
  result['x-kubernetes-action'] = operation.action;
  result['x-kubernetes-group-version-kind'] = groupVersionKind(def, def.kind);
  return result;
}
