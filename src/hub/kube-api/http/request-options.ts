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
  let body: {
    propagationPolicy?: string;
    preconditions?: { uid?: string; resourceVersion?: string };
    dryRun?: string[];
    orphanDependents?: boolean;
  } = {};
  const raw = request.body;
  if ((Buffer.isBuffer(raw) && raw.length > 0) || (typeof raw === 'string' && raw.length > 0)) {
    body = decodeBody(request) as typeof body;
  }
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
