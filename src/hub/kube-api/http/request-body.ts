/**
 * Request bodies of the resource routes: JSON, YAML (one document) or Kubernetes protobuf, by their
 * `Content-Type`; what cannot be decoded is a 400 Status, an unknown media type a 415. A body is
 * never echoed in an error: it may hold secret data.
 */
import type { FastifyRequest } from 'fastify';
import type { KindDefinition, KubeObject } from '../../../api/index.ts';
import { ApiError, errors } from '../errors.ts';
import {
  decodeKubernetesProtobuf,
  KUBERNETES_PROTOBUF,
  ProtobufMalformedError,
  ProtobufUnsupportedError,
} from '../protobuf/index.ts';
import { checkNesting, MAX_NESTING_DEPTH } from '../service/index.ts';
import { parseYamlDocument, yamlFlowNestsDeeperThan } from './yaml-body.ts';

/** The media types an object body (create, update) may have; a patch type or anything else is a 415. */
const OBJECT_MEDIA_TYPES = new Set(['application/json', 'application/yaml', KUBERNETES_PROTOBUF]);

/**
 * Refuses an object body without apiVersion for a kind of Outpost's own: as the apiserver decodes
 * a custom resource, the body must say what it is. Built-in kinds take theirs from the URL, as
 * the apiserver's decoder does. @throws ApiError 400
 */
export function checkApiVersion(def: KindDefinition, object: KubeObject): void {
  if (!def.group.endsWith('outpost.dev')) return;
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return;
  if (object.apiVersion === undefined || object.apiVersion === '')
    throw errors.badRequest(`Object 'apiVersion' is missing in the request body (a ${def.kind})`);
}

/** The object in a create or update body: JSON, YAML or Kubernetes protobuf; anything else is a 415. */
export function decodeObjectBody(request: FastifyRequest): KubeObject {
  const type = mediaType(request.headers['content-type']);
  if (!OBJECT_MEDIA_TYPES.has(type)) {
    throw errors.unsupportedMediaType(
      `the body of the request was in an unknown format - accepted media types include: ${[...OBJECT_MEDIA_TYPES].join(', ')}`,
    );
  }
  return decodeBody(request) as KubeObject;
}

/**
 * The decoded body of any write (object, patch or DeleteOptions) by its media type, nesting no
 * deeper than `MAX_NESTING_DEPTH` (a 400 otherwise, before anything walks it).
 */
export function decodeBody(request: FastifyRequest): unknown {
  const value = decodeAnyDepth(request);
  checkNesting(value, 'the request body');
  return value;
}

function decodeAnyDepth(request: FastifyRequest): unknown {
  const raw = request.body;
  const type = mediaType(request.headers['content-type']);
  if (type === KUBERNETES_PROTOBUF) {
    if (!Buffer.isBuffer(raw) || raw.length === 0) throw errors.badRequest('the request body is empty');
    try {
      return decodeKubernetesProtobuf(raw);
    } catch (error) {
      if (error instanceof ProtobufUnsupportedError) throw errors.unsupportedMediaType(error.message);
      if (error instanceof ProtobufMalformedError) {
        throw errors.badRequest(`the request body could not be decoded: ${error.message}`);
      }
      throw error;
    }
  }
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : '';
  if (text.trim() === '') throw errors.badRequest('the request body is empty');
  if (type.includes('protobuf') || type.includes('cbor')) {
    throw errors.unsupportedMediaType(
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, ${KUBERNETES_PROTOBUF}`,
    );
  }
  try {
    if (type.endsWith('yaml')) {
      if (yamlFlowNestsDeeperThan(text, MAX_NESTING_DEPTH)) throw tooDeep();
      return parseYamlDocument(text);
    }
    return JSON.parse(text);
  } catch (error) {
    // The YAML parser recurses once a level of block nesting too: a few thousand levels overflow
    // its stack (reported as a parse error) before the depth can be measured. JSON.parse does not.
    if (error instanceof ApiError) throw error;
    if (error instanceof RangeError || /Maximum call stack/.test((error as Error).message)) throw tooDeep();
    throw errors.badRequest(
      `the request body could not be decoded: ${withoutQuotedBody((error as Error).message.split('\n')[0]!)}`,
    );
  }
}

function tooDeep(): ApiError {
  return errors.badRequest(
    `the request body nests objects and arrays deeper than ${MAX_NESTING_DEPTH} levels`,
  );
}

/**
 * V8's JSON.parse messages quote the text around the error (`Unexpected token 'x', "...": is not
 * valid JSON`): a body is never echoed, since it may hold secret data.
 */
function withoutQuotedBody(message: string): string {
  return message.endsWith('is not valid JSON') ? 'unexpected character (not valid JSON)' : message;
}

/** The media type of a `Content-Type` header, lower case without parameters; JSON when absent. */
export function mediaType(header: string | undefined): string {
  return (header ?? 'application/json').split(';')[0]!.trim().toLowerCase();
}
