/**
 * The EC2 query protocol's request side: an `application/x-www-form-urlencoded`
 * body decoded into flat keys (`IpPermissions.1.IpRanges.2.CidrIp`), and a
 * ParamReader that walks the dotted tree with typed getters.
 *
 * Every getter marks the keys it reads as consumed; `finish()` then refuses
 * whatever the action did not read (UnknownParameter), so a misspelt or
 * unsupported parameter is an error instead of being silently ignored.
 *
 * Lists are `Name.N` with N from 1 (botocore's EC2Serializer), sorted
 * numerically. Index 0, leading zeros, gaps and indices over MAX_LIST_INDEX are
 * refused with InvalidParameterValue: a client never sends them, and accepting
 * them would make "which element is first" ambiguous.
 */
import { AwsError, ErrorCodes } from '../model/errors';
import type { Filter } from '../api/protocol';
import type { Tag } from '../model/types';

/** Largest body read (bytes); a bigger one is refused before it is decoded. */
export const MAX_BODY_BYTES = 1 << 20;
/** Most parameters in one request. */
export const MAX_PARAMETERS = 10_000;
/** Highest list index (`Name.N`). */
export const MAX_LIST_INDEX = 1000;

export const MALFORMED_QUERY = 'MalformedQueryString';
export const UNKNOWN_PARAMETER = 'UnknownParameter';

/**
 * Decode a form body. Duplicate keys (`GroupId.1=a&GroupId.1=b`) are refused:
 * which one wins is undefined, and no client sends them.
 */
export function parseForm(body: Buffer, maxParameters = MAX_PARAMETERS): Map<string, string> {
  const text = body.toString('utf8');
  if (text.includes('\uFFFD') && !body.includes(Buffer.from('\uFFFD', 'utf8'))) {
    throw new AwsError(MALFORMED_QUERY, 'The request body is not valid UTF-8');
  }
  const out = new Map<string, string>();
  if (text.trim() === '') return out;
  // Count before decoding everything: a body of 1 MiB of '&' is 1M empty pairs.
  let pairs = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 38) pairs++;
  if (pairs > maxParameters + 1) {
    throw new AwsError(MALFORMED_QUERY, `The request has more than ${maxParameters} parameters`);
  }
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === '')
      throw new AwsError(MALFORMED_QUERY, 'The request has a parameter without a name');
    if (out.has(key)) throw new AwsError(MALFORMED_QUERY, `The parameter ${key} is given twice`);
    out.set(key, value);
  }
  if (out.size > maxParameters) {
    throw new AwsError(MALFORMED_QUERY, `The request has more than ${maxParameters} parameters`);
  }
  return out;
}

function invalid(message: string): AwsError {
  return new AwsError(ErrorCodes.parameterValue, message);
}

function missingParameter(name: string): AwsError {
  return new AwsError(
    ErrorCodes.missingParameter,
    `The request must contain the parameter ${name}`,
  );
}

/**
 * A view of the request's keys under one prefix (`''` at the root,
 * `IpPermissions.1.` inside a list element). Children share the consumed set.
 */
export class ParamReader {
  private constructor(
    private readonly params: ReadonlyMap<string, string>,
    private readonly consumed: Set<string>,
    private readonly prefix: string,
  ) {}

  static of(params: ReadonlyMap<string, string>): ParamReader {
    return new ParamReader(params, new Set(), '');
  }

  /** Mark keys as read (Action, Version: the server's). */
  consume(...names: string[]): void {
    for (const n of names) this.consumed.add(this.prefix + n);
  }

  /** Whether the request has `name` or anything under `name.`. */
  has(name: string): boolean {
    const key = this.prefix + name;
    if (this.params.has(key)) return true;
    for (const k of this.params.keys()) if (k.startsWith(key + '.')) return true;
    return false;
  }

  optStr(name: string): string | undefined {
    const key = this.prefix + name;
    const value = this.params.get(key);
    if (value === undefined) return undefined;
    this.consumed.add(key);
    return value;
  }

  str(name: string): string {
    const value = this.optStr(name);
    if (value === undefined) throw missingParameter(this.prefix + name);
    return value;
  }

  optInt(name: string, range?: { min?: number; max?: number }): number | undefined {
    const text = this.optStr(name);
    if (text === undefined) return undefined;
    const key = this.prefix + name;
    if (!/^-?\d{1,15}$/.test(text.trim())) {
      throw invalid(`Invalid value '${text}' for ${key}: an integer is required`);
    }
    const n = Number(text.trim());
    if (
      (range?.min !== undefined && n < range.min) ||
      (range?.max !== undefined && n > range.max)
    ) {
      throw invalid(
        `Invalid value '${text}' for ${key}: must be between ${range.min ?? '-inf'} and ${range.max ?? 'inf'}`,
      );
    }
    return n;
  }

  int(name: string, range?: { min?: number; max?: number }): number {
    const n = this.optInt(name, range);
    if (n === undefined) throw missingParameter(this.prefix + name);
    return n;
  }

  optBool(name: string): boolean | undefined {
    const text = this.optStr(name);
    if (text === undefined) return undefined;
    const lower = text.trim().toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    throw invalid(`Invalid value '${text}' for ${this.prefix + name}: true or false is required`);
  }

  bool(name: string): boolean {
    const b = this.optBool(name);
    if (b === undefined) throw missingParameter(this.prefix + name);
    return b;
  }

  /**
   * The indices of `name.N…` keys, sorted; empty when there are none. A
   * non-numeric segment (`GroupId.x`) is left unconsumed for finish() to name.
   */
  private indices(name: string): number[] {
    const base = this.prefix + name + '.';
    const seen = new Map<number, string>();
    for (const key of this.params.keys()) {
      if (!key.startsWith(base)) continue;
      const segment = key.slice(base.length).split('.')[0] ?? '';
      if (!/^\d+$/.test(segment)) continue;
      const n = Number(segment);
      if (n < 1 || n > MAX_LIST_INDEX || String(n) !== segment) {
        throw invalid(
          `Invalid list index '${segment}' in ${key}: 1..${MAX_LIST_INDEX} is required`,
        );
      }
      seen.set(n, segment);
    }
    const sorted = [...seen.keys()].sort((a, b) => a - b);
    sorted.forEach((n, i) => {
      if (n !== i + 1) {
        throw invalid(`List ${base}N has a gap: element ${i + 1} is missing`);
      }
    });
    return sorted;
  }

  /** `name.1`, `name.2`, … as strings; undefined when absent. */
  optStrList(name: string): string[] | undefined {
    const indices = this.indices(name);
    if (indices.length === 0) return undefined;
    return indices.map((i) => {
      const key = `${name}.${i}`;
      const v = this.optStr(key);
      if (v === undefined) throw invalid(`List element ${this.prefix + key} needs a value`);
      return v;
    });
  }

  strList(name: string): string[] {
    const list = this.optStrList(name);
    if (list === undefined) throw missingParameter(`${this.prefix + name}.1`);
    return list;
  }

  /** `name.N.<member>` structures; undefined when absent. */
  optList<T>(name: string, read: (r: ParamReader) => T): T[] | undefined {
    const indices = this.indices(name);
    if (indices.length === 0) return undefined;
    return indices.map((i) => read(this.child(`${name}.${i}`)));
  }

  list<T>(name: string, read: (r: ParamReader) => T): T[] {
    const list = this.optList(name, read);
    if (list === undefined) throw missingParameter(`${this.prefix + name}.1`);
    return list;
  }

  /** `name.<member>`; undefined when nothing under `name.` was sent. */
  struct<T>(name: string, read: (r: ParamReader) => T): T | undefined {
    const base = this.prefix + name + '.';
    for (const key of this.params.keys()) {
      if (key.startsWith(base)) return read(this.child(name));
    }
    return undefined;
  }

  /** `name.Value` (AttributeBooleanValue / AttributeValue). */
  optBoolValue(name: string): boolean | undefined {
    return this.struct(name, (r) => r.optBool('Value'));
  }

  /**
   * TagSpecification.N.{ResourceType, Tag.N.{Key, Value}}: the tags of the
   * specifications for `resourceType` (all merged). A specification for any
   * other resource type is refused, as AWS does.
   */
  tagSpecifications(resourceType: string): Tag[] | undefined {
    const specs = this.optList('TagSpecification', (r) => ({
      type: r.str('ResourceType'),
      tags: this.readTags(r, 'Tag') ?? [],
    }));
    if (specs === undefined) return undefined;
    const tags: Tag[] = [];
    for (const spec of specs) {
      if (spec.type !== resourceType) {
        throw invalid(
          `'${spec.type}' is not a valid taggable resource type for this operation (expected ${resourceType})`,
        );
      }
      tags.push(...spec.tags);
    }
    return tags;
  }

  /** Tag.N.{Key, Value}: Value defaults to '' (AWS stores an empty value). */
  tags(name = 'Tag'): Tag[] | undefined {
    return this.readTags(this, name);
  }

  private readTags(r: ParamReader, name: string): Tag[] | undefined {
    return r.optList(name, (t) => ({ Key: t.str('Key'), Value: t.optStr('Value') ?? '' }));
  }

  /** Filter.N.{Name, Value.N}. A filter without values matches nothing, as in AWS. */
  filters(): Filter[] | undefined {
    return this.optList('Filter', (r) => ({
      Name: r.str('Name'),
      Values: r.optStrList('Value') ?? [],
    }));
  }

  /** UnknownParameter for the first key under this reader that nothing read. */
  finish(): void {
    const left = [...this.params.keys()].filter(
      (k) => k.startsWith(this.prefix) && !this.consumed.has(k),
    );
    if (left.length > 0) {
      left.sort();
      throw new AwsError(UNKNOWN_PARAMETER, `The parameter ${left[0]} is not recognized`);
    }
  }

  private child(name: string): ParamReader {
    return new ParamReader(this.params, this.consumed, this.prefix + name + '.');
  }
}
