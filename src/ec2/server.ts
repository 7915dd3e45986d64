/**
 * The EC2-compatible endpoint: HTTP `POST /` with the EC2 query protocol
 * (and sts:GetCallerIdentity), answered in XML, every Action dispatched to the
 * daemon's API methods (ControlService.handle), so the AWS CLI, the SDKs and
 * Terraform drive the same model, store and dataplane as the eniwall CLI.
 *
 * One request, in order:
 *   body (at most MAX_BODY_BYTES; reading stops past it) -> SigV4 (or, with
 *   allowUnsigned, an unsigned request from a loopback peer is 'anonymous') ->
 *   form decode -> Action/Version -> policy (ec2:Action) -> typed decode of the
 *   Action's parameters (UnknownParameter for anything left) -> DryRun ->
 *   the method (mutations: CallOptions with dryRun, the VPC guard and the audit
 *   identity) -> render (a created object is read back by its describe) ->
 *   VPC filter and pagination of describes -> XML.
 *
 * Every request gets an audit record: mutations through the service (which
 * records success, failure and refusal itself), everything else (reads,
 * refused and malformed requests, unknown actions) through recordCall().
 *
 * Status codes: 400 for client errors, 401/403 for authentication and
 * authorisation, 412 DryRunOperation, 500 InternalError only for a bug inside
 * an action (logged). Never another 5xx: every AWS client retries those.
 *
 * Choices where AWS's behaviour is not confirmed (README "EC2 endpoint"):
 *  - unsigned request without --ec2-allow-unsigned: 403 MissingAuthenticationToken;
 *  - body over 1 MiB: 400 RequestEntityTooLarge, then the connection closes (the rest of
 *    the upload is read and dropped for up to 2 s / 16 MiB so the client sees the answer);
 *    over 10,000 parameters or a duplicate key: 400 MalformedQueryString;
 *  - a parameter no action reads: 400 UnknownParameter (never silently ignored);
 *  - Version other than 2016-11-15 (2011-06-15 for STS): 400 NoSuchVersion;
 *  - methods other than POST: 405 UnsupportedHttpVerb; paths other than /: 404
 *    InvalidURI; parameters in the URL: 400 MalformedQueryString;
 *  - NextToken: opaque, signed, bound to the query's other parameters and to
 *    this daemon run; anything else is 400 InvalidPaginationToken;
 *  - DryRun on a describe runs the read (its NotFound errors included), then
 *    answers DryRunOperation;
 *  - policy before parameters: a refused Action is 403 even when its
 *    parameters are wrong (AWS's order is not documented);
 *  - GetCallerIdentity needs no permission, as in AWS.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AwsError, ErrorCodes, isAwsError } from '../model/errors';
import type { ApiMethod } from '../api/protocol';
import type { CallOptions } from '../daemon/service';
import type { RequestContext } from '../daemon/server';
import type { PeerCredentials } from '../daemon/peercred';
import type { AuditEntry } from '../store/store';
import type { ListenAddress } from '../daemon/metrics';
import { ec2ErrorXml, ec2ResponseXml, statusForCode, stsErrorXml, stsResponseXml } from './xml';
import { verifySigV4 } from './sigv4';
import { MAX_BODY_BYTES, MALFORMED_QUERY, ParamReader, parseForm } from './query';

/** After refusing an oversized body: how much more of it is read and dropped, and for how long. */
const DISCARD_BYTES = 16 << 20;
const DISCARD_MS = 2000;
import { EC2_ACTIONS } from './actions';
import type { Ec2Action, InternalCall, Json } from './actions/action';
import { STS_ACTIONS, STS_VERSION, callerIdentity } from './actions/sts';

export const EC2_VERSION = '2016-11-15';
export const DEFAULT_MAX_SKEW_SECONDS = 900;
const CLOSE_GRACE_MS = 2_000;

/** A credential of the endpoint as the server needs it (src/ec2/credentials.ts stores them). */
export interface Ec2Credential {
  accessKeyId: string;
  secretAccessKey: string;
  name: string;
  policy: unknown;
}

/** Credentials and policy decisions (src/ec2/credentials.ts, src/ec2/policy.ts). */
export interface Ec2Security {
  lookup(accessKeyId: string): Ec2Credential | undefined;
  allowsAction(policy: unknown, action: string): boolean;
  /** The check a mutation runs before it is applied, for a VPC-limited policy. */
  vpcGuard(policy: unknown): CallOptions['authorize'] | undefined;
  /** Whether a describe may show an item of this VPC (undefined: an item of no VPC). */
  allowsVpc(policy: unknown, vpcId: string | undefined): boolean;
  /** The policy of anonymous callers (allowUnsigned). */
  defaultPolicy: unknown;
}

export type Ec2Handler = (
  method: string,
  params: unknown,
  ctx: RequestContext,
  options?: CallOptions,
) => Promise<unknown>;

export interface Ec2ServerOptions {
  handle: Ec2Handler;
  /** Audit records of calls that reach no mutation (written in order with the mutations). */
  recordCall(entry: AuditEntry): Promise<void>;
  security: Ec2Security;
  accountId: string;
  /** Admit unsigned requests from loopback peers as 'anonymous' (the daemon checks the address). */
  allowUnsigned?: boolean;
  maxSkewSeconds?: number;
  maxBodyBytes?: number;
  log: Logger;
}

/** Who made a request, once it is known. */
interface Caller {
  principal: string;
  credSource: 'sigv4' | 'anonymous';
  policy: unknown;
  accessKeyId: string;
  name: string;
}

/** What the audit record of a request knows about it. */
interface RequestInfo {
  requestId: string;
  sourceAddress: string;
  userAgent?: string;
  action?: string;
  params?: unknown;
  caller?: Caller;
  sts: boolean;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

export function isLoopback(address: string): boolean {
  return LOOPBACK.test(address);
}

export class Ec2Server {
  /** Signs pagination tokens: a token is only good for this daemon run and this query. */
  private readonly tokenKey = randomBytes(32);

  private constructor(
    private readonly server: http.Server,
    private readonly options: Ec2ServerOptions,
  ) {}

  static async listen(address: ListenAddress, options: Ec2ServerOptions): Promise<Ec2Server> {
    // Slow clients: headers within 10 s, the whole request within 30 s (checked every second).
    const server = http.createServer({
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      connectionsCheckingInterval: 1_000,
    });
    const ec2 = new Ec2Server(server, options);
    server.on('request', (req, res) => ec2.serve(req, res));
    // Not HTTP, headers too big, or too slow: answered at the HTTP level (no request to audit).
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      const status =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? '431 Request Header Fields Too Large'
            : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
      options.log.debug({ err }, 'EC2 endpoint: bad HTTP request');
    });
    server.keepAliveTimeout = 5_000;
    server.maxConnections = 256;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: Error) => {
        const where = address.host.includes(':')
          ? `[${address.host}]:${address.port}`
          : `${address.host}:${address.port}`;
        reject(new Error(`--ec2-listen ${where}: cannot listen (${err.message})`));
      });
      server.listen(address.port, address.host, () => resolve());
    });
    return ec2;
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Stop accepting; requests being answered get CLOSE_GRACE_MS to finish. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  // ------------------------------------------------------------ transport

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const peer = req.socket.remoteAddress ?? '';
    const info: RequestInfo = {
      requestId: randomUUID(),
      sourceAddress: peer.includes(':')
        ? `[${peer}]:${req.socket.remotePort}`
        : `${peer}:${req.socket.remotePort}`,
      userAgent: header(req, 'user-agent'),
      sts: false,
    };
    const url = req.url ?? '/';
    const [path, query] = url.split('?', 2) as [string, string | undefined];
    if (req.method !== 'POST') {
      this.refuse(
        req,
        res,
        info,
        405,
        'UnsupportedHttpVerb',
        `The ${req.method} method is not supported: POST / only`,
      );
      return;
    }
    if (path !== '/') {
      this.refuse(req, res, info, 404, 'InvalidURI', `No such resource '${path}': POST / only`);
      return;
    }
    if (query !== undefined && query !== '') {
      this.refuse(
        req,
        res,
        info,
        400,
        MALFORMED_QUERY,
        'Parameters go in the body, not in the URL',
      );
      return;
    }
    const limit = this.options.maxBodyBytes ?? MAX_BODY_BYTES;
    // Declared too large, or found to be while reading: answered at once, then the connection closes.
    const tooLarge = (): void =>
      this.refuse(
        req,
        res,
        info,
        400,
        'RequestEntityTooLarge',
        `The request body is larger than ${limit} bytes`,
        true,
      );
    const length = Number(header(req, 'content-length') ?? '0');
    if (Number.isFinite(length) && length > limit) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        req.pause();
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined); // an aborted upload: nothing to answer
    req.on('end', () => {
      if (over) return;
      this.dispatch(req, Buffer.concat(chunks), info).then(
        (reply) => this.send(res, info, reply.status, reply.body),
        (err: unknown) => {
          // dispatch answers every error itself; this is a bug in the answering.
          this.options.log.error({ err }, 'EC2 endpoint: request failed');
          this.send(
            res,
            info,
            500,
            ec2ErrorXml('InternalError', 'An internal error has occurred', info.requestId),
          );
        },
      );
    });
  }

  /** Answer before (or instead of) reading the body; audited with what is known. */
  private refuse(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    info: RequestInfo,
    status: number,
    code: string,
    message: string,
    close = false,
  ): void {
    this.audit(info, false, { errorCode: code, errorMessage: message });
    if (close) {
      // An oversized body: the connection ends with the answer. What the client is still
      // uploading is read and dropped for a while (so that it gets to read the 400 instead
      // of a reset), bounded in bytes and time; then the socket is closed.
      res.setHeader('Connection', 'close');
      let discarded = 0;
      const end = (): void => {
        clearTimeout(timer);
        req.socket.destroy();
      };
      const timer = setTimeout(end, DISCARD_MS);
      timer.unref();
      req.on('error', () => undefined);
      req.on('data', (chunk: Buffer) => {
        discarded += chunk.length;
        if (discarded > DISCARD_BYTES) end();
      });
      req.once('end', () => (res.writableFinished ? end() : res.once('finish', end)));
      req.resume();
    } else {
      req.resume();
    }
    this.send(res, info, status, ec2ErrorXml(code, message, info.requestId));
  }

  private send(res: http.ServerResponse, info: RequestInfo, status: number, body: string): void {
    if (res.headersSent) return;
    res.writeHead(status, {
      'Content-Type': 'text/xml;charset=UTF-8',
      'Content-Length': Buffer.byteLength(body),
      'x-amzn-RequestId': info.requestId,
      Server: 'eniwall',
    });
    res.end(body);
  }

  // ------------------------------------------------------------ protocol

  /** The whole request to (status, XML); every AWS error answered here, audited. */
  private async dispatch(
    req: http.IncomingMessage,
    body: Buffer,
    info: RequestInfo,
  ): Promise<{ status: number; body: string }> {
    let audited = false;
    const fail = (err: unknown): { status: number; body: string } => {
      let code: string;
      let message: string;
      if (isAwsError(err)) {
        code = err.code;
        message = err.message;
      } else {
        this.options.log.error({ err, action: info.action }, 'EC2 endpoint: action failed');
        code = 'InternalError';
        message = 'An internal error has occurred';
      }
      if (!audited) this.audit(info, false, { errorCode: code, errorMessage: message });
      const status = isAwsError(err) ? statusForCode(code) : 500;
      const xml = info.sts
        ? stsErrorXml(code, message, info.requestId)
        : ec2ErrorXml(code, message, info.requestId);
      return { status, body: xml };
    };
    try {
      // Decode leniently first, so even an authentication failure is audited with its Action.
      let form: Map<string, string> | undefined;
      let formError: unknown;
      try {
        form = parseForm(body);
      } catch (err) {
        formError = err;
      }
      info.action = form?.get('Action');
      info.params = form === undefined ? undefined : paramsForAudit(form);
      info.sts = form?.get('Version') === STS_VERSION;
      const caller = this.authenticate(req, body, info);
      info.caller = caller;
      if (form === undefined) throw formError;
      this.checkContentType(req);
      const action = form.get('Action');
      if (action === undefined || action === '') {
        throw new AwsError('MissingAction', 'The request must contain the parameter Action');
      }
      const version = form.get('Version');
      if (version === undefined) {
        throw new AwsError(
          ErrorCodes.missingParameter,
          'The request must contain the parameter Version',
        );
      }
      if (info.sts) return this.sts(action, form, caller, info);
      if (version !== EC2_VERSION) {
        throw new AwsError(
          'NoSuchVersion',
          `The requested version (${version}) is not valid: ${EC2_VERSION}`,
        );
      }
      const def = EC2_ACTIONS.get(action);
      if (def === undefined) {
        throw new AwsError(
          'InvalidAction',
          `The action ${action} is not valid for this web service.`,
        );
      }
      if (!this.options.security.allowsAction(caller.policy, `ec2:${action}`)) {
        throw new AwsError(
          ErrorCodes.unauthorizedOperation,
          'You are not authorized to perform this operation.',
        );
      }
      const r = ParamReader.of(form);
      r.consume('Action', 'Version');
      const dryRun = r.optBool('DryRun') ?? false;
      const params = def.decode(r);
      const page = def.paginate === undefined ? undefined : this.pageRequest(def, r, form);
      r.finish();
      info.params = params;
      const ctx = contextFor(caller);
      const call = (method: ApiMethod, p: unknown): Promise<unknown> =>
        this.options.handle(method, p, ctx);
      if (def.readOnly) {
        await def.prepare?.(call, params);
        let result = (await this.options.handle(def.method, params, ctx)) as Json;
        if (dryRun) {
          throw new AwsError(
            ErrorCodes.dryRunOperation,
            'Request would have succeeded, but DryRun flag is set.',
          );
        }
        result = await this.visible(def, result, caller.policy, call);
        if (page !== undefined) result = this.paginate(def, result, page);
        const output = def.render ? await def.render(result, call, params) : result;
        this.audit(info, true, {});
        return { status: 200, body: ec2ResponseXml(action, output, info.requestId) };
      }
      audited = true; // the service records the mutation, whatever happens to it
      const result = await this.options.handle(def.method, params, ctx, {
        dryRun,
        authorize: this.options.security.vpcGuard(caller.policy),
        audit: {
          action,
          params,
          principal: caller.principal,
          sourceAddress: info.sourceAddress,
          userAgent: info.userAgent,
        },
      });
      const output = def.render ? await def.render(result, call, params) : (result as Json);
      return { status: 200, body: ec2ResponseXml(action, output, info.requestId) };
    } catch (err) {
      return fail(err);
    }
  }

  private checkContentType(req: http.IncomingMessage): void {
    const type = (header(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      throw new AwsError(MALFORMED_QUERY, 'Content-Type must be application/x-www-form-urlencoded');
    }
  }

  /** SigV4, or anonymous for an unsigned request when allowed (loopback peers only). */
  private authenticate(req: http.IncomingMessage, body: Buffer, info: RequestInfo): Caller {
    const security = this.options.security;
    const verified = verifySigV4(
      {
        method: req.method ?? 'POST',
        path: req.url ?? '/',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      },
      {
        lookupSecret: (akid) => security.lookup(akid)?.secretAccessKey,
        maxSkewSeconds: this.options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS,
      },
    );
    if (verified === undefined) {
      if (this.options.allowUnsigned === true && isLoopback(req.socket.remoteAddress ?? '')) {
        return {
          principal: 'anonymous',
          credSource: 'anonymous',
          policy: security.defaultPolicy,
          accessKeyId: 'anonymous',
          name: 'anonymous',
        };
      }
      throw new AwsError(
        'MissingAuthenticationToken',
        'The request must be signed (AWS Signature Version 4)',
      );
    }
    if (verified.service === 'sts') info.sts = true;
    const credential = security.lookup(verified.accessKeyId);
    if (credential === undefined) {
      throw new AwsError(
        'AuthFailure',
        'AWS was not able to validate the provided access credentials',
      );
    }
    return {
      principal: `${credential.accessKeyId}:${credential.name}`,
      credSource: 'sigv4',
      policy: credential.policy,
      accessKeyId: credential.accessKeyId,
      name: credential.name,
    };
  }

  private sts(
    action: string,
    form: Map<string, string>,
    caller: Caller,
    info: RequestInfo,
  ): { status: number; body: string } {
    info.sts = true;
    if (!STS_ACTIONS.has(action)) {
      throw new AwsError(
        'InvalidAction',
        `The action ${action} is not valid for this web service.`,
      );
    }
    const r = ParamReader.of(form);
    r.consume('Action', 'Version');
    r.finish();
    // GetCallerIdentity needs no permission (as in AWS): any authenticated caller may ask.
    const result = callerIdentity(caller.accessKeyId, caller.name, this.options.accountId);
    this.audit(info, true, {});
    return { status: 200, body: stsResponseXml(action, { ...result }, info.requestId) };
  }

  // ------------------------------------------------------------ describes

  /** A VPC-limited policy sees only the items of its VPCs (allowsVpc decides on items of none). */
  private async visible(
    def: Ec2Action,
    result: Json,
    policy: unknown,
    call: InternalCall,
  ): Promise<Json> {
    const key = def.paginate?.key;
    if (key === undefined || !Array.isArray(result[key])) return result;
    const items = result[key] as Json[];
    // Unlimited credentials see everything: skip the lookups.
    if (this.options.security.allowsVpc(policy, undefined)) return result;
    const vpcs = def.vpcsOf
      ? await def.vpcsOf(items, call)
      : items.map((item) => (typeof item['VpcId'] === 'string' ? item['VpcId'] : undefined));
    return {
      ...result,
      [key]: items.filter((_, i) => this.options.security.allowsVpc(policy, vpcs[i])),
    };
  }

  private pageRequest(def: Ec2Action, r: ParamReader, form: Map<string, string>): PageRequest {
    const spec = def.paginate!;
    const max = r.optInt('MaxResults');
    const token = r.optStr('NextToken');
    if (max !== undefined && (max < spec.min || max > spec.max)) {
      throw new AwsError(
        ErrorCodes.parameterValue,
        `Value (${max}) for parameter maxResults is invalid. Expecting a value between ${spec.min} and ${spec.max}.`,
      );
    }
    if (max !== undefined && spec.exclusiveWith !== undefined && r.has(spec.exclusiveWith)) {
      throw new AwsError(
        ErrorCodes.parameterCombination,
        `The parameter ${spec.exclusiveWith} cannot be used with the parameter MaxResults`,
      );
    }
    const binding = queryBinding(form);
    const offset = token === undefined ? 0 : this.readToken(token, binding);
    return { max, offset, binding };
  }

  private paginate(def: Ec2Action, result: Json, page: PageRequest): Json {
    const key = def.paginate!.key;
    const items = Array.isArray(result[key]) ? (result[key] as unknown[]) : [];
    const end = page.max === undefined ? items.length : page.offset + page.max;
    const out: Json = { ...result, [key]: items.slice(page.offset, end) };
    delete out['NextToken'];
    if (end < items.length) out['NextToken'] = this.makeToken(end, page.binding);
    return out;
  }

  /**
   * NextToken: the offset of the next item and a hash of the query it belongs
   * to, signed with this run's key. An offset, not a cursor: an object deleted
   * between pages shifts the rest by one (AWS promises no more either).
   */
  private makeToken(offset: number, binding: string): string {
    const payload = Buffer.from(JSON.stringify({ o: offset, q: binding })).toString('base64url');
    return `${payload}.${this.tokenMac(payload)}`;
  }

  private readToken(token: string, binding: string): number {
    const bad = (): AwsError =>
      new AwsError(
        'InvalidPaginationToken',
        'The specified pagination token is not valid or is expired.',
      );
    const [payload, mac] = token.split('.');
    if (payload === undefined || mac === undefined) throw bad();
    const expected = Buffer.from(this.tokenMac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw bad();
    let parsed: { o?: unknown; q?: unknown };
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof parsed;
    } catch {
      throw bad();
    }
    if (parsed.q !== binding || typeof parsed.o !== 'number') throw bad();
    return parsed.o;
  }

  private tokenMac(payload: string): string {
    return createHmac('sha256', this.tokenKey).update(payload).digest('base64url').slice(0, 22);
  }

  // ------------------------------------------------------------ audit

  /** Not awaited: the answer does not wait for its record (written after any mutation in flight). */
  private audit(info: RequestInfo, ok: boolean, extra: Partial<AuditEntry>): void {
    const entry: AuditEntry = {
      time: new Date(),
      uid: null,
      pid: null,
      credSource: info.caller?.credSource ?? 'unauthenticated',
      action: info.action ?? '(none)',
      params: info.params ?? {},
      ok,
      principal: info.caller?.principal,
      sourceAddress: info.sourceAddress,
      userAgent: info.userAgent,
      ...extra,
    };
    const failed = (err: unknown): void =>
      this.options.log.error({ err }, 'EC2 endpoint: could not write an audit record');
    try {
      this.options.recordCall(entry).catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}

interface PageRequest {
  max?: number;
  offset: number;
  binding: string;
}

/** The query a token belongs to: every parameter but the paging ones and DryRun. */
function queryBinding(form: Map<string, string>): string {
  const keys = [...form.keys()]
    .filter((k) => k !== 'NextToken' && k !== 'MaxResults' && k !== 'DryRun')
    .sort();
  const h = createHash('sha256');
  for (const k of keys) h.update(`${k}\u0000${form.get(k) ?? ''}\u0000`);
  return h.digest('base64url').slice(0, 16);
}

/** The raw parameters of a request that was not decoded (Action and Version aside). */
function paramsForAudit(form: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of form) if (k !== 'Action' && k !== 'Version') out[k] = v;
  return out;
}

function contextFor(caller: Caller): RequestContext {
  const credentials: PeerCredentials = { uid: null, pid: null, credSource: caller.credSource };
  return { credentials: () => Promise.resolve(credentials), onClose: () => undefined };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
