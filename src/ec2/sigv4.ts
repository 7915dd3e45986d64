/**
 * AWS Signature Version 4 verification for the EC2 endpoint (ec2-api.md §2).
 *
 * The server recomputes the signature from the request as received and
 * compares it in constant time. Two ways to carry a signature are accepted:
 * the `Authorization` header (every SDK and the CLI) and the query string
 * (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-SignedHeaders`,
 * `X-Amz-Signature`, optional `X-Amz-Expires`; presigned GET/POST). Only
 * node:crypto is used.
 *
 * Canonicalisation is compatible with the three signers that matter: botocore,
 * `aws4` and `@smithy/signature-v4`:
 *  - URI: the raw path, `//`, `.` and `..` normalised, each segment
 *    percent-encoded again (non-S3 services double-encode).
 *  - Query: parsed as application/x-www-form-urlencoded (so a raw `+` is a
 *    space, as `aws4` reads it with querystring.parse; botocore and smithy
 *    never put a raw `+` in a URL, they send `%2B`), then names and values
 *    RFC 3986-encoded, sorted by name then value.
 *  - Headers: lower-case names; values trimmed with inner whitespace runs
 *    collapsed to one space; repeats joined with `,` (from rawHeaders when
 *    given; node's req.headers joins with `, ` and drops repeats of some names).
 *  - Payload: SHA-256 of the body bytes; `x-amz-content-sha256`, when sent,
 *    must equal it. `UNSIGNED-PAYLOAD` is refused: an EC2 body carries the
 *    Action and its parameters, so an unsigned body would let a captured
 *    signature be replayed with any other call.
 *
 * Choices where AWS's behaviour is unconfirmed [U]:
 *  - Malformed X-Amz-Date → IncompleteSignature; a date that parses but
 *    differs from the credential scope's date → SignatureDoesNotMatch (the
 *    request is well-formed; the scope is simply not this request's).
 *  - Scope service other than `ec2`/`sts`, or a malformed region →
 *    SignatureDoesNotMatch ("Credential should be scoped to correct service").
 *  - Unknown access key → AuthFailure (401) for ec2 scopes,
 *    InvalidClientTokenId (403) for sts scopes, as each service answers it.
 *  - Query signing: the request is valid from X-Amz-Date − maxSkew until
 *    X-Amz-Date + X-Amz-Expires (1…604800 s); without X-Amz-Expires (aws4
 *    omits it outside S3) the ±maxSkew window applies as for headers.
 *  - Both an Authorization header and query-signing parameters →
 *    IncompleteSignature (one mechanism per request).
 *  - Only X-Amz-Date carries the time (no `Date` header fallback).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

import { AwsError } from '../model/errors';

export interface SignedRequest {
  method: string;
  /** Raw path incl. query string, e.g. '/' or '/?a=b'. */
  path: string;
  /** node's req.headers. */
  headers: Record<string, string | string[] | undefined>;
  /** node's req.rawHeaders; preferred for exact repeated-header values. */
  rawHeaders?: string[];
  body: Buffer;
}

export interface VerifiedCaller {
  accessKeyId: string;
  region: string;
  service: string; // 'ec2' | 'sts'
  signedAt: Date;
}

export interface SigV4Options {
  lookupSecret(accessKeyId: string): string | undefined;
  now?: Date;
  /** Allowed clock difference either way; default 900 (AWS's 15 minutes). */
  maxSkewSeconds?: number;
}

export const ALGORITHM = 'AWS4-HMAC-SHA256';
const TERMINATOR = 'aws4_request';
const SERVICES = new Set(['ec2', 'sts']);
const MAX_EXPIRES_SECONDS = 7 * 24 * 3600;

export const SigV4Codes = {
  incomplete: 'IncompleteSignature',
  mismatch: 'SignatureDoesNotMatch',
  authFailure: 'AuthFailure',
  invalidToken: 'InvalidClientTokenId',
  expired: 'RequestExpired',
} as const;

/** AWS's text for a wrong signature (ec2-api.md §2.3 step 5). */
export const SIGNATURE_MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function incomplete(message: string): AwsError {
  return new AwsError(SigV4Codes.incomplete, message);
}

// ------------------------------------------------------------ canonical form

/** RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~ (UTF-8 bytes). */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The canonical URI of a raw (wire-encoded) path, as aws4 and smithy compute it. */
export function canonicalUri(rawPath: string): string {
  if (rawPath === '' || rawPath === '/') return '/';
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(uriEncode(segment));
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return `/${segments.join('/')}${trailing}`;
}

/** The canonical query string of a raw query (without '?'), minus `omit` names. */
export function canonicalQuery(rawQuery: string, omit: ReadonlySet<string> = new Set()): string {
  const pairs: [string, string][] = [];
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    if (omit.has(name)) continue;
    pairs.push([uriEncode(name), uriEncode(value)]);
  }
  // Encoded strings are ASCII, so plain comparison is byte order.
  pairs.sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0,
  );
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** A header value as signed: trimmed, inner whitespace runs collapsed. */
export function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ');
}

export interface CanonicalRequestParts {
  method: string;
  /** Raw path incl. query string. */
  path: string;
  /** Lower-case name → canonical value, for every signed header. */
  headers: Readonly<Record<string, string>>;
  /** In the order the signer listed them (normally sorted). */
  signedHeaders: readonly string[];
  payloadHash: string;
  /** Query parameter names left out (X-Amz-Signature when query-signed). */
  omitQuery?: ReadonlySet<string>;
}

/**
 * An absolute-form request target (`POST http://host:port/ HTTP/1.1`, as sent
 * through proxies; node puts it in req.url as is) reduced to its path and
 * query, which is what the client signed.
 */
export function originForm(target: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (!m) return target;
  const rest = target.slice(m[0].length);
  return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
}

/** The SigV4 canonical request (ec2-api.md §2.1). */
export function canonicalRequest(parts: CanonicalRequestParts): string {
  const path = originForm(parts.path);
  const q = path.indexOf('?');
  const rawPath = q < 0 ? path : path.slice(0, q);
  const rawQuery = q < 0 ? '' : path.slice(q + 1);
  const headerLines = parts.signedHeaders.map((h) => `${h}:${parts.headers[h] ?? ''}\n`).join('');
  return [
    parts.method.toUpperCase(),
    canonicalUri(rawPath),
    canonicalQuery(rawQuery, parts.omitQuery),
    headerLines,
    parts.signedHeaders.join(';'),
    parts.payloadHash,
  ].join('\n');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** StringToSign = algorithm \n amzDate \n scope \n hex(sha256(canonical request)). */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

/** hex(HMAC(kSigning, stringToSign)), kSigning derived from the secret and the scope. */
export function signatureFor(
  secret: string,
  date: string,
  region: string,
  service: string,
  toSign: string,
): string {
  let key: Buffer = Buffer.from(`AWS4${secret}`, 'utf8');
  for (const part of [date, region, service, TERMINATOR]) {
    key = createHmac('sha256', key).update(part, 'utf8').digest();
  }
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

// ------------------------------------------------------------ parsing

interface Parsed {
  mode: 'header' | 'query';
  accessKeyId: string;
  date: string; // YYYYMMDD of the scope
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  expiresSeconds?: number;
}

function headerValues(req: SignedRequest, name: string): string[] {
  if (req.rawHeaders) {
    const values: string[] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]!.toLowerCase() === name) values.push(req.rawHeaders[i + 1]!);
    }
    return values;
  }
  const v = req.headers[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** A header that must appear at most once (a repeated Authorization or X-Amz-Date is malformed). */
function singleHeader(req: SignedRequest, name: string): string | undefined {
  const values = headerValues(req, name);
  if (values.length > 1) throw incomplete(`The '${name}' header appears more than once.`);
  return values[0];
}

/** `AKID/YYYYMMDD/region/service/aws4_request` */
function parseCredential(
  credential: string,
): Pick<Parsed, 'accessKeyId' | 'date' | 'region' | 'service'> {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) {
    throw incomplete(
      `Credential must have the form <AccessKeyId>/<YYYYMMDD>/<region>/<service>/${TERMINATOR}; got '${credential}'.`,
    );
  }
  const [accessKeyId, date, region, service, terminator] = parts as [
    string,
    string,
    string,
    string,
    string,
  ];
  if (terminator !== TERMINATOR) {
    throw incomplete(`Credential should be scoped with a valid terminator: '${TERMINATOR}'.`);
  }
  if (!/^\d{8}$/.test(date)) throw incomplete(`Credential scope date '${date}' is not YYYYMMDD.`);
  return { accessKeyId, date, region, service };
}

function parseSignedHeaders(list: string): string[] {
  const names = list.split(';');
  if (names.some((n) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(n))) {
    throw incomplete(`SignedHeaders '${list}' must be lower-case header names separated by ';'.`);
  }
  return names;
}

function parseSignature(signature: string): string {
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    throw incomplete('Signature must be 64 lower-case hexadecimal characters.');
  }
  return signature;
}

/** `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` */
function parseAuthorization(header: string): Omit<Parsed, 'amzDate'> {
  const value = header.trim();
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw incomplete(`Unsupported Authorization algorithm '${algorithm}'; use ${ALGORITHM}.`);
  }
  const fields = new Map<string, string>();
  for (const piece of value.slice(algorithm.length).split(',')) {
    const item = piece.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (eq < 0 || fields.has(name)) {
      throw incomplete(`Authorization header component '${item}' is malformed or repeated.`);
    }
    fields.set(name, item.slice(eq + 1));
  }
  for (const need of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!fields.get(need)) {
      throw incomplete(`Authorization header requires '${need}' parameter.`);
    }
  }
  for (const name of fields.keys()) {
    if (!['Credential', 'SignedHeaders', 'Signature'].includes(name)) {
      throw incomplete(`Authorization header has an unknown component '${name}'.`);
    }
  }
  return {
    mode: 'header',
    ...parseCredential(fields.get('Credential')!),
    signedHeaders: parseSignedHeaders(fields.get('SignedHeaders')!),
    signature: parseSignature(fields.get('Signature')!),
  };
}

function parseQueryAuth(query: URLSearchParams): Parsed {
  const get = (name: string): string => {
    const all = query.getAll(name);
    if (all.length !== 1 || all[0] === '') {
      throw incomplete(`Query-string authentication requires exactly one '${name}' parameter.`);
    }
    return all[0]!;
  };
  const algorithm = get('X-Amz-Algorithm');
  if (algorithm !== ALGORITHM) {
    throw incomplete(`Unsupported X-Amz-Algorithm '${algorithm}'; use ${ALGORITHM}.`);
  }
  const parsed: Parsed = {
    mode: 'query',
    ...parseCredential(get('X-Amz-Credential')),
    signedHeaders: parseSignedHeaders(get('X-Amz-SignedHeaders')),
    signature: parseSignature(get('X-Amz-Signature')),
    amzDate: get('X-Amz-Date'),
  };
  if (query.has('X-Amz-Expires')) {
    const text = get('X-Amz-Expires');
    const n = /^\d{1,7}$/.test(text) ? Number(text) : NaN;
    if (!(n >= 1 && n <= MAX_EXPIRES_SECONDS)) {
      throw incomplete(`X-Amz-Expires must be an integer from 1 to ${MAX_EXPIRES_SECONDS}.`);
    }
    parsed.expiresSeconds = n;
  }
  return parsed;
}

/** `YYYYMMDDTHHMMSSZ` → Date, or undefined when malformed or not a real time. */
export function parseAmzDate(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls over (month 13, 25:00); a round trip catches it.
  const back = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return back === text ? date : undefined;
}

// ------------------------------------------------------------ verification

const QUERY_AUTH_NAMES = new Set(['X-Amz-Signature']);

/**
 * Returns undefined when the request carries no Authorization header and no
 * X-Amz-Algorithm query parameter (unsigned). Throws AwsError otherwise on any
 * failure.
 */
export function verifySigV4(req: SignedRequest, opts: SigV4Options): VerifiedCaller | undefined {
  const target = originForm(req.path);
  const q = target.indexOf('?');
  const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  const authorization = singleHeader(req, 'authorization');
  const queryAuth = query.has('X-Amz-Algorithm');
  if (authorization === undefined && !queryAuth) return undefined;
  if (authorization !== undefined && queryAuth) {
    throw incomplete('Only one auth mechanism allowed: Authorization header or X-Amz-Algorithm.');
  }

  let parsed: Parsed;
  if (authorization !== undefined) {
    const amzDate = singleHeader(req, 'x-amz-date');
    const fromHeader = parseAuthorization(authorization);
    if (amzDate === undefined) {
      throw incomplete("Authorization header requires existence of an 'X-Amz-Date' header.");
    }
    parsed = { ...fromHeader, amzDate: amzDate.trim() };
  } else {
    parsed = parseQueryAuth(query);
  }

  const signedAt = parseAmzDate(parsed.amzDate);
  if (!signedAt) {
    throw incomplete(
      `X-Amz-Date '${parsed.amzDate}' must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.`,
    );
  }
  if (parsed.amzDate.slice(0, 8) !== parsed.date) {
    throw new AwsError(
      SigV4Codes.mismatch,
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.date}' != '${parsed.amzDate.slice(0, 8)}'.`,
    );
  }
  if (!SERVICES.has(parsed.service)) {
    throw new AwsError(
      SigV4Codes.mismatch,
      `Credential should be scoped to correct service: 'ec2' or 'sts', not '${parsed.service}'.`,
    );
  }
  if (!/^[a-z0-9-]{1,64}$/.test(parsed.region)) {
    throw new AwsError(
      SigV4Codes.mismatch,
      `Credential should be scoped to a valid region, not '${parsed.region}'.`,
    );
  }
  if (!parsed.signedHeaders.includes('host')) {
    throw incomplete("SignedHeaders must include 'host'.");
  }

  checkTime(parsed, signedAt, opts);

  const secret = opts.lookupSecret(parsed.accessKeyId);
  if (secret === undefined) {
    throw parsed.service === 'sts'
      ? new AwsError(
          SigV4Codes.invalidToken,
          'The security token included in the request is invalid.',
        )
      : new AwsError(
          SigV4Codes.authFailure,
          'AWS was not able to validate the provided access credentials',
        );
  }

  const bodyHash = sha256Hex(req.body);
  const declared = singleHeader(req, 'x-amz-content-sha256');
  if (declared !== undefined && declared.trim() !== bodyHash) {
    throw new AwsError(
      SigV4Codes.mismatch,
      "The provided 'x-amz-content-sha256' header does not match the SHA-256 of the payload.",
    );
  }

  const headers: Record<string, string> = {};
  for (const name of parsed.signedHeaders) {
    const values = headerValues(req, name);
    if (values.length === 0) {
      throw new AwsError(
        SigV4Codes.mismatch,
        `Signed header '${name}' is missing from the request.`,
      );
    }
    headers[name] = values.map(canonicalHeaderValue).join(',');
  }
  const canonical = canonicalRequest({
    method: req.method,
    path: req.path,
    headers,
    signedHeaders: parsed.signedHeaders,
    payloadHash: bodyHash,
    omitQuery: parsed.mode === 'query' ? QUERY_AUTH_NAMES : new Set(),
  });
  const scope = `${parsed.date}/${parsed.region}/${parsed.service}/${TERMINATOR}`;
  const expected = signatureFor(
    secret,
    parsed.date,
    parsed.region,
    parsed.service,
    stringToSign(parsed.amzDate, scope, canonical),
  );
  // Both are 64 hex chars (parseSignature checked the given one).
  if (!timingSafeEqual(Buffer.from(expected, 'ascii'), Buffer.from(parsed.signature, 'ascii'))) {
    throw new AwsError(SigV4Codes.mismatch, SIGNATURE_MISMATCH_MESSAGE);
  }
  return {
    accessKeyId: parsed.accessKeyId,
    region: parsed.region,
    service: parsed.service,
    signedAt,
  };
}

function checkTime(parsed: Parsed, signedAt: Date, opts: SigV4Options): void {
  const now = (opts.now ?? new Date()).getTime();
  const skewMs = (opts.maxSkewSeconds ?? 900) * 1000;
  const at = signedAt.getTime();
  if (at - now > skewMs) {
    throw new AwsError(SigV4Codes.expired, 'Request has expired: its X-Amz-Date is in the future.');
  }
  const validForMs = parsed.expiresSeconds !== undefined ? parsed.expiresSeconds * 1000 : skewMs;
  if (now - at > validForMs) {
    throw new AwsError(SigV4Codes.expired, 'Request has expired.');
  }
}
