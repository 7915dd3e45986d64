/**
 * The unix-socket transport of the JSON API: newline-delimited requests in,
 * responses out, several requests per connection allowed (answered as they
 * complete, matched by id). Knows nothing about methods: it hands each request
 * to a Handler and turns what it returns or throws into a response line.
 *
 * The socket file is created with mode 0600 (umask held while binding, so it
 * is never briefly wider); a stale socket left by a killed daemon is removed,
 * a live one (another daemon answering) is an error.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { isAwsError } from '../model/errors';
import { ProtocolErrorCode, type ApiErrorBody, type ApiResponse } from '../api/protocol';
import { peerCredentials, type PeerCredentials } from './peercred';

/** Longest request line accepted (an `import` document can be large). */
const MAX_LINE_BYTES = 32 << 20;

export interface RequestContext {
  /** The caller's uid/pid, looked up once per connection on first use. */
  credentials(): Promise<PeerCredentials>;
}

export type Handler = (method: string, params: unknown, ctx: RequestContext) => Promise<unknown>;

export class ApiServer {
  private readonly connections = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
  ) {}

  static async listen(socketPath: string, handler: Handler, log: Logger): Promise<ApiServer> {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
    await removeStaleSocket(socketPath);
    const server = net.createServer();
    const api = new ApiServer(server, socketPath);
    server.on('connection', (socket) => api.serve(socket, handler, log));
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
    return api;
  }

  /** Stop accepting, end idle connections, remove the socket file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.connections) socket.end();
    await closed;
    fs.rmSync(this.socketPath, { force: true });
  }

  private serve(socket: net.Socket, handler: Handler, log: Logger): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', (err) => log.debug({ err }, 'client connection error'));
    let credentials: Promise<PeerCredentials> | undefined;
    const ctx: RequestContext = {
      credentials: () => (credentials ??= peerCredentials(socket)),
    };
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_LINE_BYTES) {
        reply(socket, { id: 0, ok: false, error: badRequest('request line too long') });
        socket.destroy();
        return;
      }
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim() !== '') void this.dispatch(socket, line, handler, ctx, log);
      }
    });
  }

  private async dispatch(
    socket: net.Socket,
    line: string,
    handler: Handler,
    ctx: RequestContext,
    log: Logger,
  ): Promise<void> {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      reply(socket, { id: 0, ok: false, error: badRequest('request is not JSON') });
      return;
    }
    const { id, method, params } = (request ?? {}) as Record<string, unknown>;
    const replyId = typeof id === 'number' ? id : 0;
    if (typeof method !== 'string') {
      reply(socket, { id: replyId, ok: false, error: badRequest('request has no method') });
      return;
    }
    try {
      const result = await handler(method, params ?? {}, ctx);
      reply(socket, { id: replyId, ok: true, result: result ?? null });
    } catch (err) {
      reply(socket, { id: replyId, ok: false, error: errorBody(err, method, log) });
    }
  }
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
  socket.write(`${JSON.stringify(response, bigintToString)}\n`);
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
