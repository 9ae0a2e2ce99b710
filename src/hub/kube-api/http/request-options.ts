/**
 * The query parameters (and DeleteOptions body) of the resource routes, checked as the apiserver
 * checks them: an unsupported value is a 400 Status naming the parameter and the values allowed.
 */
import type { FastifyRequest } from 'fastify';
import type { KindDefinition } from '../../../api/index.ts';
import { errors } from '../errors.ts';
import type { DeleteOptions, ListQuery, WriteOptions } from '../service/index.ts';
import { queryBool } from './parse-bool.ts';
import { decodeBody } from './request-body.ts';
import { fieldSelectorToStorage } from './stored-as.ts';

/** A request's query string, parameter by parameter. */
export type Query = Record<string, string | undefined>;

/** The list (or watch, or deletecollection) selection: selectors, `limit` and `continue`; `name` narrows it to one object. */
export function listQueryOf(query: Query, name: string | undefined, def: KindDefinition): ListQuery {
  const limit = query.limit ? Number(query.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0))
    throw errors.badRequest(`limit: Invalid value: "${query.limit}"`);
  const nameSelector = name ? `metadata.name=${name}` : undefined;
  const fieldSelector =
    [fieldSelectorToStorage(def, query.fieldSelector), nameSelector].filter((part) => part).join(',') ||
    undefined;
  return { labelSelector: query.labelSelector, fieldSelector, limit, continue: query.continue || undefined };
}

/** DeleteOptions from the query and the body: propagation policy, preconditions, dry run. */
export function deleteOptionsOf(request: FastifyRequest, query: Query): DeleteOptions {
  const raw = request.body;
  const body =
    (Buffer.isBuffer(raw) && raw.length > 0) || (typeof raw === 'string' && raw.length > 0)
      ? deleteOptionsBody(decodeBody(request))
      : {};
  let policy = query.propagationPolicy ?? body.propagationPolicy;
  if (!policy && (queryBool(query.orphanDependents) || body.orphanDependents === true)) policy = 'Orphan';
  if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
    throw errors.badRequest(
      `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
    );
  }
  const options: DeleteOptions = {
    dryRun: dryRunOf(query) || (body.dryRun ?? []).includes('All'),
    ...(policy ? { propagationPolicy: policy as DeleteOptions['propagationPolicy'] } : {}),
    ...(body.preconditions ? { preconditions: body.preconditions } : {}),
  };
  return options;
}

interface DeleteOptionsBody {
  propagationPolicy?: string;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
  orphanDependents?: boolean;
}

/**
 * The fields of a DeleteOptions body the hub reads, each of its type (a 400 otherwise, as the
 * apiserver's decoder answers a field of the wrong type).
 */
function deleteOptionsBody(body: unknown): DeleteOptionsBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw errors.badRequest('the request body must be a DeleteOptions object');
  const { propagationPolicy, preconditions, dryRun, orphanDependents } = body as Record<string, unknown>;
  const wrong = (field: string, type: string) => errors.badRequest(`DeleteOptions.${field}: must be ${type}`);
  if (propagationPolicy != null && typeof propagationPolicy !== 'string')
    throw wrong('propagationPolicy', 'a string');
  if (orphanDependents != null && typeof orphanDependents !== 'boolean')
    throw wrong('orphanDependents', 'a boolean');
  if (dryRun != null && !(Array.isArray(dryRun) && dryRun.every((item) => typeof item === 'string')))
    throw wrong('dryRun', 'a list of strings');
  const { uid, resourceVersion } = (preconditions ?? {}) as Record<string, unknown>;
  if (
    preconditions != null &&
    (typeof preconditions !== 'object' ||
      Array.isArray(preconditions) ||
      (uid != null && typeof uid !== 'string') ||
      (resourceVersion != null && typeof resourceVersion !== 'string'))
  )
    throw wrong('preconditions', 'an object of uid and resourceVersion strings');
  return {
    ...(typeof propagationPolicy === 'string' ? { propagationPolicy } : {}),
    ...(typeof orphanDependents === 'boolean' ? { orphanDependents } : {}),
    ...(Array.isArray(dryRun) ? { dryRun: dryRun as string[] } : {}),
    ...(preconditions != null
      ? {
          preconditions: {
            ...(typeof uid === 'string' ? { uid } : {}),
            ...(typeof resourceVersion === 'string' ? { resourceVersion } : {}),
          },
        }
      : {}),
  };
}

/** `dryRun=All` (true), absent (false), anything else a 400. */
export function dryRunOf(query: Query): boolean {
  const value = query.dryRun;
  if (value === undefined || value === '') return false;
  if (value !== 'All')
    throw errors.badRequest(`dryRun: Unsupported value: "${value}": supported values: "All"`);
  return true;
}

/** `fieldValidation`: Strict, Warn (the default) or Ignore. */
export function fieldValidationOf(query: Query): WriteOptions['fieldValidation'] {
  const value = query.fieldValidation ?? 'Warn';
  if (value !== 'Strict' && value !== 'Warn' && value !== 'Ignore') {
    throw errors.badRequest(
      `fieldValidation: Unsupported value: "${value}": supported values: "Ignore", "Warn", "Strict"`,
    );
  }
  return value;
}

/** The field manager: the parameter, else the User-Agent's program name, as the apiserver derives it. */
export function fieldManagerOf(query: Query, userAgent: string | undefined): string {
  const manager = query.fieldManager ?? (userAgent ?? 'unknown').split('/')[0]!;
  if (manager.length > 128) throw errors.badRequest('fieldManager: Too long: may not be longer than 128');
  return manager;
}
