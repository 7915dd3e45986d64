/**
 * Shape checks for request params arriving as JSON: types only (is it a
 * string, an array of strings, ...). Values (CIDRs, ids, ranges) are the
 * model's to validate. A wrong type is an InvalidParameterValue, a missing
 * required field a MissingParameter, as the EC2 API answers.
 */
import { AwsError, ErrorCodes, missing } from '../model/errors';

export type Params = Record<string, unknown>;

export function asParams(value: unknown): Params {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw wrongType('params', 'an object');
  }
  return value as Params;
}

export function str(p: Params, key: string): string {
  const value = p[key];
  if (value === undefined || value === null) throw missing(key);
  if (typeof value !== 'string') throw wrongType(key, 'a string');
  return value;
}

export function optStr(p: Params, key: string): string | undefined {
  return p[key] === undefined || p[key] === null ? undefined : str(p, key);
}

export function optNum(p: Params, key: string): number | undefined {
  const value = p[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw wrongType(key, 'a number');
  return value;
}

export function num(p: Params, key: string): number {
  const value = optNum(p, key);
  if (value === undefined) throw missing(key);
  return value;
}

export function optBool(p: Params, key: string): boolean | undefined {
  const value = p[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw wrongType(key, 'true or false');
  return value;
}

export function bool(p: Params, key: string): boolean {
  const value = optBool(p, key);
  if (value === undefined) throw missing(key);
  return value;
}

export function optStrArray(p: Params, key: string): string[] | undefined {
  const value = p[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw wrongType(key, 'a list of strings');
  }
  return value as string[];
}

export function optObjectArray<T>(p: Params, key: string): T[] | undefined {
  const value = p[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => v !== null && typeof v === 'object')) {
    throw wrongType(key, 'a list of objects');
  }
  return value as T[];
}

export function optObject<T>(p: Params, key: string): T | undefined {
  const value = p[key];
  if (value === undefined || value === null) return undefined;
  return asParams(value) as T;
}

export function direction(p: Params): 'ingress' | 'egress' {
  const value = str(p, 'direction');
  if (value !== 'ingress' && value !== 'egress') {
    throw new AwsError(
      ErrorCodes.parameterValue,
      `Invalid direction '${value}': ingress or egress`,
    );
  }
  return value;
}

function wrongType(key: string, expected: string): AwsError {
  return new AwsError(ErrorCodes.parameterValue, `Parameter ${key} must be ${expected}`);
}
