/**
 * The unix-socket transport of the JSON API: newline-delimited requests in,
 * responses out, several requests per connection allowed (answered as they
 * complete, matched by id). Knows nothing about methods: it hands each request
 * to a Handler and turns what it returns or throws into a response line.
 *
 * The socket file is created with mode 0600 (umask held while binding, so it
 * is never briefly wider); given a group gid it is then chowned root:gid and
 * only after that made 0660 (src/daemon/operators.ts decides what members may
 * call). A stale socket left by a killed daemon is removed,
 * a live one (another daemon answering) is an error.
 *
 * Abuse limits (ServerLimits): a line longer than maxLineBytes, a connection
 * idle for idleTimeoutMs, a line still incomplete requestTimeoutMs after its
 * first byte, or a connection beyond maxConnections gets one error response
 * (id CONNECTION_ERROR_ID) and is closed. Buffering stops at once, so the
 * rest of an oversized line is never held. A connection whose responses are
 * not being read stops being read too (no unbounded write buffer), and at
 * most MAX_IN_FLIGHT_PER_CONNECTION of its requests are answered at once.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { isAwsError } from '../model/errors';
import {
  CONNECTION_ERROR_ID,
  MAX_REQUEST_BYTES,
  MAX_REQUEST_DEPTH,
  ProtocolErrorCode,
  type ApiErrorBody,
  type ApiResponse,
} from '../api/protocol';
import { peerCredentials, type PeerCredentials } from './peercred';

/** Connections served at once; one more is refused with RequestLimitExceeded. */
export const MAX_CONNECTIONS = 64;
/** No complete request this long after connecting or after the last response: closed. */
export const IDLE_TIMEOUT_MS = 60_000;
/** A request line must be complete this long after its first byte. */
export const REQUEST_TIMEOUT_MS = 10_000;
/**
 * Requests of one connection being answered at once; further lines wait, and
 * so do all of them while the client is not reading its responses.
 */
const MAX_IN_FLIGHT_PER_CONNECTION = 32;
/** How long a closing connection may take to flush its last response. */
const CLOSE_GRACE_MS = 1_000;

export interface ServerLimits {
  maxLineBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
  requestTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxLineBytes: MAX_REQUEST_BYTES,
  maxConnections: MAX_CONNECTIONS,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
};

export interface RequestContext {
  /** The caller's uid/pid, looked up once per connection on first use. */
  credentials(): Promise<PeerCredentials>;
  /** Runs listener once when the connection closes, however it goes (captures end with it). */
  onClose(listener: () => void): void;
}

export type Handler = (method: string, params: unknown, ctx: RequestContext) => Promise<unknown>;

export class ApiServer {
  private readonly connections = new Set<Connection>();

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
    readonly limits: ServerLimits,
  ) {}

  static async listen(
    socketPath: string,
    handler: Handler,
    log: Logger,
    limits: Partial<ServerLimits> = {},
    socketGid?: number,
  ): Promise<ApiServer> {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
    await removeStaleSocket(socketPath);
    const server = net.createServer();
    const api = new ApiServer(server, socketPath, { ...DEFAULT_LIMITS, ...limits });
    server.on('connection', (socket) => api.accept(socket, handler, log));
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(socketPath, 0o600);
    if (socketGid !== undefined) {
      fs.chownSync(socketPath, process.getuid?.() ?? 0, socketGid);
      fs.chmodSync(socketPath, 0o660);
    }
    return api;
  }

  /** Open connections (refused ones are not counted). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Bytes of incomplete request lines held, all connections together (for tests). */
  get bufferedBytes(): number {
    let total = 0;
    for (const conn of this.connections) total += conn.bufferedBytes;
    return total;
  }

  /** Responses written but not yet taken by the clients, all connections together (for tests). */
  get pendingOutputBytes(): number {
    let total = 0;
    for (const conn of this.connections) total += conn.pendingOutputBytes;
    return total;
  }

  /** Stop accepting, end idle connections, remove the socket file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.connections) conn.end();
    await closed;
    fs.rmSync(this.socketPath, { force: true });
  }

  private accept(socket: net.Socket, handler: Handler, log: Logger): void {
    socket.on('error', (err) => log.debug({ err }, 'client connection error'));
    if (this.connections.size >= this.limits.maxConnections) {
      log.warn({ max: this.limits.maxConnections }, 'connection refused: too many connections');
      refuse(
        socket,
        ProtocolErrorCode.TooManyConnections,
        `the daemon serves at most ${this.limits.maxConnections} connections at once; retry later`,
        this.limits.maxLineBytes,
      );
      return;
    }
    const conn = new Connection(socket, handler, log, this.limits);
    this.connections.add(conn);
    socket.on('close', () => {
      conn.dispose();
      this.connections.delete(conn);
    });
  }
}

/** One client connection: line framing, its timers, its requests in flight. */
class Connection {
  /** The incomplete line so far (pieces of the chunks read). */
  private pieces: Buffer[] = [];
  bufferedBytes = 0;
  /** Complete lines not yet dispatched (at most one read's worth: reading pauses). */
  private readonly queued: string[] = [];
  private inFlight = 0;
  private closing = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private requestTimer: NodeJS.Timeout | undefined;
  private readonly ctx: RequestContext;

  constructor(
    private readonly socket: net.Socket,
    private readonly handler: Handler,
    private readonly log: Logger,
    private readonly limits: ServerLimits,
  ) {
    let credentials: Promise<PeerCredentials> | undefined;
    this.ctx = {
      credentials: () => (credentials ??= peerCredentials(socket)),
      onClose: (listener) => {
        if (socket.destroyed) listener();
        else socket.once('close', listener);
      },
    };
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.pump());
    this.armIdle();
  }

  /** Server shutdown: no error, just the end of the stream; a peer that stays is cut. */
  end(): void {
    this.dispose();
    const grace = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.socket.once('close', () => clearTimeout(grace));
    this.socket.end();
  }

  dispose(): void {
    this.closing = true;
    this.clearTimers();
    this.pieces = [];
    this.bufferedBytes = 0;
    this.queued.length = 0;
  }

  get pendingOutputBytes(): number {
    return this.socket.writableLength;
  }

  private onData(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      if (this.closing) return;
      const newline = chunk.indexOf(0x0a, start);
      if (newline < 0) break;
      if (this.bufferedBytes + (newline - start) > this.limits.maxLineBytes) {
        return this.tooLong();
      }
      const tail = chunk.subarray(start, newline);
      const line = this.pieces.length === 0 ? tail : Buffer.concat([...this.pieces, tail]);
      this.pieces = [];
      this.bufferedBytes = 0;
      this.clearRequestTimer();
      start = newline + 1;
      const text = line.toString('utf8');
      if (text.trim() !== '') this.queued.push(text);
    }
    const rest = chunk.length - start;
    if (rest > 0) {
      if (this.bufferedBytes + rest > this.limits.maxLineBytes) return this.tooLong();
      this.pieces.push(start === 0 ? chunk : chunk.subarray(start));
      this.bufferedBytes += rest;
      this.requestTimer ??= setTimeout(() => {
        this.refuse(
          ProtocolErrorCode.Timeout,
          `request line incomplete after ${duration(this.limits.requestTimeoutMs)}`,
        );
      }, this.limits.requestTimeoutMs);
    }
    this.pump();
  }

  /**
   * Dispatch queued lines while fewer than MAX_IN_FLIGHT_PER_CONNECTION are
   * being answered and the client takes its responses; otherwise stop reading,
   * so neither the lines nor the responses of a client that does not read
   * pile up here.
   */
  private pump(): void {
    if (this.closing) return;
    while (
      this.queued.length > 0 &&
      this.inFlight < MAX_IN_FLIGHT_PER_CONNECTION &&
      !this.socket.writableNeedDrain
    ) {
      this.dispatch(this.queued.shift() ?? '');
    }
    if (this.queued.length > 0) this.socket.pause();
    else if (this.socket.isPaused()) this.socket.resume();
  }

  private tooLong(): void {
    this.refuse(
      ProtocolErrorCode.BadRequest,
      `request line longer than ${this.limits.maxLineBytes} bytes`,
    );
  }

  private dispatch(line: string): void {
    this.inFlight++;
    this.clearIdle(); // a request in flight, however long, keeps the connection
    void this.answer(line).finally(() => {
      this.inFlight--;
      this.pump();
      if (this.inFlight === 0 && !this.closing) this.armIdle();
    });
  }

  private async answer(line: string): Promise<void> {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      reply(this.socket, connectionError(ProtocolErrorCode.BadRequest, 'request is not JSON'));
      return;
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      reply(
        this.socket,
        connectionError(ProtocolErrorCode.BadRequest, 'request is not a JSON object'),
      );
      return;
    }
    const { id, method, params } = request as Record<string, unknown>;
    const replyId = typeof id === 'number' ? id : CONNECTION_ERROR_ID;
    if (typeof method !== 'string') {
      reply(this.socket, { id: replyId, ok: false, error: badRequest('request has no method') });
      return;
    }
    if (nestedDeeperThan(request, MAX_REQUEST_DEPTH)) {
      const message = `request nested deeper than ${MAX_REQUEST_DEPTH} levels`;
      reply(this.socket, { id: replyId, ok: false, error: badRequest(message) });
      return;
    }
    try {
      const result = await this.handler(method, params ?? {}, this.ctx);
      reply(this.socket, { id: replyId, ok: true, result: result ?? null });
    } catch (err) {
      reply(this.socket, { id: replyId, ok: false, error: errorBody(err, method, this.log) });
    }
  }

  private armIdle(): void {
    this.clearIdle();
    this.idleTimer = setTimeout(() => {
      this.refuse(
        ProtocolErrorCode.Timeout,
        `no request for ${duration(this.limits.idleTimeoutMs)}; connection closed`,
      );
    }, this.limits.idleTimeoutMs);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private clearRequestTimer(): void {
    if (this.requestTimer) clearTimeout(this.requestTimer);
    this.requestTimer = undefined;
  }

  private clearTimers(): void {
    this.clearIdle();
    this.clearRequestTimer();
  }

  /** One error response, then close; nothing more is read or buffered. */
  private refuse(code: string, message: string): void {
    if (this.closing) return;
    this.log.debug({ code, message }, 'closing client connection');
    this.dispose();
    refuse(this.socket, code, message, this.limits.maxLineBytes);
  }
}

/**
 * Send one connection-level error and close. What the peer sends meanwhile is
 * discarded, never buffered; the socket goes when the peer closes its side
 * (a client that read the error does), when it sends more than `discardLimit`
 * bytes, or after CLOSE_GRACE_MS. Waiting for the peer instead of closing at
 * once lets a client still writing its request read the error rather than
 * fail on EPIPE.
 */
function refuse(socket: net.Socket, code: string, message: string, discardLimit: number): void {
  socket.removeAllListeners('data');
  let discarded = 0;
  socket.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > discardLimit) socket.destroy();
  });
  socket.once('end', () => socket.destroy());
  const grace = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  socket.once('close', () => clearTimeout(grace));
  socket.resume(); // it may be paused for backpressure
  if (!socket.writable) return void socket.destroy();
  socket.end(line(connectionError(code, message)));
}

/** Iterative, so the check itself cannot overflow the stack. */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [node, depth] = item;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

/** 60000 -> "60 s", 250 -> "250 ms". */
function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function connectionError(code: string, message: string): ApiResponse {
  return { id: CONNECTION_ERROR_ID, ok: false, error: { code, message } };
}

/** AWS errors go back as they are; anything else is a bug, logged with its stack. */
export function errorBody(err: unknown, method: string, log: Logger): ApiErrorBody {
  if (isAwsError(err)) return { code: err.code, message: err.message };
  log.error({ err, method }, 'request failed');
  const message = err instanceof Error ? err.message : String(err);
  return { code: ProtocolErrorCode.Internal, message };
}

function badRequest(message: string): ApiErrorBody {
  return { code: ProtocolErrorCode.BadRequest, message };
}

function reply(socket: net.Socket, response: ApiResponse): void {
  if (!socket.writable) return;
  socket.write(line(response));
}

function line(response: ApiResponse): string {
  return `${JSON.stringify(response, bigintToString)}\n`;
}

function bigintToString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** Fails when a daemon answers on the socket; checked before anything else starts. */
export async function assertNoLiveDaemon(socketPath: string): Promise<void> {
  if (fs.existsSync(socketPath) && (await answers(socketPath))) {
    throw new Error(`another daemon is already listening on ${socketPath}`);
  }
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  await assertNoLiveDaemon(socketPath);
  fs.rmSync(socketPath, { force: true });
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = net.createConnection(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
