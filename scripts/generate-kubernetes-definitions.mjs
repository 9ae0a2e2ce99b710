#!/usr/bin/env node
// Writes src/api/kubernetes/definitions.json: the Kubernetes schemas of the kinds a Workload may
// hold (Pod, Deployment, StatefulSet, ConfigMap, Secret) and of every type they reach, trimmed to
// what validation needs (each field's type and format, the required fields). The source is the
// models of @kubernetes/client-node (a dev dependency), which are generated from the Kubernetes
// OpenAPI document (their header names its version): field names and types from each model's
// attributeTypeMap, required fields from its .d.ts (the fields not marked optional). Rerun after
// upgrading @kubernetes/client-node: `node scripts/generate-kubernetes-definitions.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
const PACKAGE = dirname(require.resolve('@kubernetes/client-node/package.json'));
const MODELS = join(PACKAGE, 'dist', 'gen', 'models');
const OUTPUT = join(ROOT, 'src', 'api', 'kubernetes', 'definitions.json');

/** The kinds a Workload may hold (WORKLOAD_RESOURCE_KINDS) and their models. */
const KINDS = {
  Pod: { apiVersion: 'v1', model: 'V1Pod' },
  Deployment: { apiVersion: 'apps/v1', model: 'V1Deployment' },
  StatefulSet: { apiVersion: 'apps/v1', model: 'V1StatefulSet' },
  ConfigMap: { apiVersion: 'v1', model: 'V1ConfigMap' },
  Secret: { apiVersion: 'v1', model: 'V1Secret' },
};

/**
 * resource.Quantity fields: a string in the OpenAPI document (and so in the models), but the
 * apiserver also reads a number (`cpu: 1`).
 */
const QUANTITIES = {
  V1ResourceRequirements: ['limits', 'requests'],
  V1VolumeResourceRequirements: ['limits', 'requests'],
  V1EmptyDirVolumeSource: ['sizeLimit'],
  V1ResourceFieldSelector: ['divisor'],
  V1PodSpec: ['overhead'],
};

const packageVersion = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')).version;
const specVersion = /OpenAPI spec version: (\S+)/.exec(readFileSync(join(MODELS, 'V1Pod.js'), 'utf8'))?.[1];

const definitions = {};
const pending = Object.values(KINDS).map((kind) => kind.model);
while (pending.length > 0) {
  const name = pending.pop();
  if (definitions[name]) continue;
  const module = await import(pathToFileURL(join(MODELS, `${name}.js`)).href);
  const attributes = module[name].getAttributeTypeMap();
  const declaration = readFileSync(join(MODELS, `${name}.d.ts`), 'utf8');
  const required = [...declaration.matchAll(/^\s+'([^']+)': /gm)].map((match) => match[1]);
  const properties = {};
  for (const attribute of attributes) {
    const quantity = QUANTITIES[name]?.includes(attribute.baseName);
    const type = typeOf(attribute.type, attribute.format, quantity);
    properties[attribute.baseName] = type;
    for (const model of modelsIn(type)) pending.push(model);
  }
  for (const field of QUANTITIES[name] ?? [])
    if (!properties[field]) throw new Error(`${name}.${field}: no such field (QUANTITIES is out of date)`);
  definitions[name] = required.length > 0 ? { properties, required } : { properties };
}
// The kinds' status is the cluster's to write: whatever a Workload holds there is kept as is.
for (const { model } of Object.values(KINDS)) definitions[model].properties.status &&= 'any';
// Drop the definitions only status reached.
const reached = new Set();
const visit = (name) => {
  if (reached.has(name)) return;
  reached.add(name);
  for (const type of Object.values(definitions[name].properties))
    for (const model of modelsIn(type)) visit(model);
};
for (const { model } of Object.values(KINDS)) visit(model);
for (const name of Object.keys(definitions)) if (!reached.has(name)) delete definitions[name];

const sorted = Object.fromEntries(Object.entries(definitions).sort(([a], [b]) => a.localeCompare(b)));
const output = {
  source: `@kubernetes/client-node ${packageVersion} models (Kubernetes OpenAPI ${specVersion})`,
  kinds: KINDS,
  definitions: sorted,
};
writeFileSync(OUTPUT, `${JSON.stringify(output)}\n`);
console.log(`${Object.keys(sorted).length} definitions written to ${OUTPUT}`);

/**
 * A model attribute's type as the validator reads it: `string`, `int32`, `int64`, `double`,
 * `boolean`, `time`, `bytes` (base64), `int-or-string`, `quantity`, `any`, `[T]` (array of T),
 * `{T}` (map of T) or a definition's name.
 */
function typeOf(type, format, quantity) {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return `[${typeOf(array[1], format, quantity)}]`;
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return `{${typeOf(map[1], format, quantity)}}`;
  if (quantity) return 'quantity';
  switch (type) {
    case 'string':
      return format === 'byte' ? 'bytes' : 'string';
    case 'number':
      if (format === 'int32' || format === 'int64' || format === 'double') return format;
      throw new Error(`number of format "${format}"`);
    case 'boolean':
      return 'boolean';
    case 'Date':
      return 'time';
    case 'IntOrString':
      return 'int-or-string';
    case 'any':
      return 'any';
    default:
      if (/^[A-Z]\w+$/.test(type)) return type;
      throw new Error(`unknown type ${type}`);
  }
}

function modelsIn(type) {
  const inner = /^[[{](.+)[\]}]$/.exec(type);
  if (inner) return modelsIn(inner[1]);
  return /^[A-Z]/.test(type) ? [type] : [];
}
