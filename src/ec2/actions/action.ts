/**
 * One EC2 Action of the endpoint: how its query parameters become the params
 * of a daemon API method, and how the method's result becomes the Action's
 * output (the AWS SDK JSON shape; src/ec2/xml.ts renames it for the wire).
 */
import type { ApiMethod } from '../../api/protocol';
import type { ParamReader } from '../query';

export type Json = Record<string, unknown>;

/** An internal call (not audited): the describe that renders a created object. */
export type InternalCall = (method: ApiMethod, params: unknown) => Promise<unknown>;

export interface Pagination {
  /** The output member that holds the items (SecurityGroups, Vpcs, ...). */
  key: string;
  /** MaxResults range the AWS API reference gives for the Action. */
  min: number;
  max: number;
  /**
   * The id parameter that may not be combined with MaxResults
   * (InvalidParameterCombination), where AWS refuses it.
   */
  exclusiveWith?: string;
}

export interface Ec2Action {
  /** The EC2 Action name (`CreateSecurityGroup`). */
  name: string;
  /** The daemon API method it runs. */
  method: ApiMethod;
  /** Reads answer DryRun themselves and are audited by the endpoint. */
  readOnly: boolean;
  /** Query parameters (DryRun, MaxResults, NextToken excluded) to method params. */
  decode(r: ParamReader): Json;
  /** The method's result to the Action's output; the identity when absent. */
  render?(result: unknown, call: InternalCall, params: Json): Promise<Json> | Json;
  /** Runs before the method (reads only): checks needing the current state. */
  prepare?(call: InternalCall, params: Json): Promise<void>;
  paginate?: Pagination;
  /**
   * The VPC of each listed item, for VPC-limited credentials; default: the
   * item's VpcId (undefined: an item of no VPC).
   */
  vpcsOf?(items: Json[], call: InternalCall): Promise<(string | undefined)[]>;
}

/** Actions whose output is empty (`<requestId>` only). */
export const empty = (): Json => ({});

/** Output `{ Return: true }` (the `return` element of the older Actions). */
export const returnTrue = (): Json => ({ Return: true });

/** The first item of a describe result's `key`, as `{ [as]: item }`. */
export async function describeOne(
  call: InternalCall,
  method: ApiMethod,
  params: Json,
  key: string,
): Promise<Json> {
  const out = (await call(method, params)) as Json;
  const items = out[key];
  const first = Array.isArray(items) ? (items[0] as Json | undefined) : undefined;
  if (first === undefined) throw new Error(`${method} returned no ${key} for a created object`);
  return first;
}

/** The id of a model object returned by a create method. */
export function idOf(result: unknown): string {
  const id = (result as { id?: unknown } | null)?.id;
  if (typeof id !== 'string') throw new Error('a create method returned no id');
  return id;
}

/** Drop keys whose value is undefined (method params stay minimal in the audit log). */
export function compact(o: Json): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
