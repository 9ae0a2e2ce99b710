/**
 * The bodies the enrollment endpoints accept, read and checked before
 * anything else happens: a malformed request creates nothing. Their schemas
 * are the wire contract the agent shares (src/api/enrollment.ts).
 */
import { Compile } from 'typebox/compile';
import {
  type EnrollRequest,
  EnrollRequestSchema,
  type FieldCause,
  labelCauses,
  type PollRequest,
  PollRequestSchema,
  type RenewRequest,
  RenewRequestSchema,
} from '../../api/index.ts';
import { ApiError, checkNesting, errors } from '../kube-api/index.ts';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const enrollValidator = Compile(EnrollRequestSchema);
const renewValidator = Compile(RenewRequestSchema);
const pollValidator = Compile(PollRequestSchema);

/**
 * Parses and checks an enrollment body.
 * @throws ApiError 400 for a body that is not JSON, 422 (with field causes) for
 *   a missing or invalid field, including the device name.
 */
export function readEnrollRequest(body: unknown): EnrollRequest {
  const value = parseJson(body);
  const causes = check(enrollValidator, value);
  const name = (value as { name?: unknown }).name;
  if (typeof name === 'string' && (name.length > 253 || !DNS_SUBDOMAIN.test(name)))
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'name',
      message:
        'a device name must be a lowercase RFC 1123 subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit',
    });
  const labels = (value as { labels?: unknown }).labels;
  if (typeof labels === 'object' && labels !== null && !Array.isArray(labels))
    causes.push(...labelCauses(labels as Record<string, unknown>, 'labels'));
  if (causes.length > 0) throw invalid(typeof name === 'string' ? name : '', causes);
  return value as EnrollRequest;
}

/** Parses and checks a renewal body; errors as {@link readEnrollRequest}. */
export function readRenewRequest(body: unknown): RenewRequest {
  const value = parseJson(body);
  const causes = check(renewValidator, value);
  if (causes.length > 0) throw invalid('', causes);
  return value as RenewRequest;
}

/** Parses and checks a poll body; errors as {@link readEnrollRequest}. */
export function readPollRequest(body: unknown): PollRequest {
  const value = parseJson(body);
  const causes = check(pollValidator, value);
  if (causes.length > 0) throw invalid('', causes);
  return value as PollRequest;
}

function parseJson(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) throw errors.badRequest('the request body must be JSON');
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw errors.badRequest('the request body must be a JSON object');
    checkNesting(value, 'the request body');
    return value;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw errors.badRequest('the request body is not valid JSON');
  }
}

function check(validator: ReturnType<typeof Compile>, value: unknown): FieldCause[] {
  if (validator.Check(value)) return [];
  const causes: FieldCause[] = [];
  for (const error of validator.Errors(value)) {
    const detail = error as { instancePath?: string; message?: string; keyword?: string; params?: unknown };
    let field = (detail.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    const missing = (detail.params as { requiredProperties?: string[] } | undefined)?.requiredProperties;
    if (detail.keyword === 'required' && missing?.length) {
      for (const property of missing)
        causes.push({
          reason: 'FieldValueRequired',
          field: field ? `${field}.${property}` : property,
          message: 'Required value',
        });
      continue;
    }
    field ||= 'body';
    causes.push({ reason: 'FieldValueInvalid', field, message: detail.message ?? 'invalid value' });
  }
  return causes;
}

function invalid(name: string, causes: readonly FieldCause[]): ApiError {
  const summary = causes.map((cause) => `${cause.field}: ${cause.message}`).join(', ');
  return new ApiError(422, 'Invalid', `enrollment request for "${name}" is invalid: ${summary}`, {
    name,
    group: 'outpost.dev',
    kind: 'EnrollmentRequest',
    causes: causes.map((cause) => ({ reason: cause.reason, message: cause.message, field: cause.field })),
  });
}
