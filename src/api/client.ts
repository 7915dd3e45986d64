/**
 * Typed client of the daemon's JSON API (src/api/protocol.ts). The CLI is a
 * thin layer over it; library users import it from the package entry point.
 *
 *   const client = await EniwallClient.connect();
 *   const sg = await client.call('sg.create', { name: 'web', description: 'web tier' });
 *   client.close();
 */
import * as net from 'node:net';
import {
  CONNECTION_ERROR_ID,
  MAX_REQUEST_BYTES,
  ProtocolErrorCode,
  type ApiMethod,
  type ApiRequest,
  type ApiResponse,
  type ParamsOf,
  type ResultOf,
} from './protocol';
import { resolveSocket } from './paths';

/** An error returned by the daemon (an AWS error code) or by the transport. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export class EniwallClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffered = '';
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.failAll(unavailable(err.message)));
    socket.on('close', () => this.failAll(unavailable('connection closed by the daemon')));
  }

  /** Connect to the daemon's socket (flag, else ENIWALL_SOCKET, else the default). */
  static connect(socketPath?: string): Promise<EniwallClient> {
    const path = resolveSocket(socketPath);
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      const onError = (err: NodeJS.ErrnoException): void => {
        // EACCES: the socket is 0660 root:<socket-group> (README "Operators who are not root").
        const hint =
          err.code === 'EACCES'
            ? ' (permission denied: run as root or as a member of the socket group, daemon --socket-group)'
            : '';
        reject(
          unavailable(`cannot reach the daemon at ${path}: ${err.code ?? err.message}${hint}`),
        );
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new EniwallClient(socket));
      });
    });
  }

  call<M extends ApiMethod>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const request: ApiRequest = { id, method, params };
    const line = JSON.stringify(request);
    // The daemon would refuse it and close the connection; say so without sending it.
    if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) {
      return Promise.reject(
        new ApiError(
          ProtocolErrorCode.BadRequest,
          `request is larger than the daemon accepts (${MAX_REQUEST_BYTES} bytes)`,
        ),
      );
    }
    return new Promise<ResultOf<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: (v) => resolve(v as ResultOf<M>), reject });
      this.socket.write(`${line}\n`);
    });
  }

  close(): void {
    this.closedError ??= unavailable('client closed');
    this.socket.end();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      if (line.trim() !== '') this.onResponse(line);
    }
  }

  private onResponse(line: string): void {
    let response: ApiResponse;
    try {
      response = JSON.parse(line) as ApiResponse;
    } catch {
      this.failAll(
        new ApiError(ProtocolErrorCode.BadRequest, 'daemon sent a line that is not JSON'),
      );
      return;
    }
    // Not an answer to one call: the daemon refused or is closing the connection.
    if (response.id === CONNECTION_ERROR_ID && !response.ok) {
      this.failAll(new ApiError(response.error.code, response.error.message));
      return;
    }
    const waiter = this.pending.get(response.id);
    if (!waiter) return;
    this.pending.delete(response.id);
    if (response.ok) waiter.resolve(response.result);
    else waiter.reject(new ApiError(response.error.code, response.error.message));
  }

  private failAll(err: Error): void {
    this.closedError ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}

function unavailable(message: string): ApiError {
  return new ApiError(ProtocolErrorCode.Unavailable, message);
}

/** Connect, make one call, close: what most CLI commands do. */
export async function callOnce<M extends ApiMethod>(
  method: M,
  params: ParamsOf<M>,
  socketPath?: string,
): Promise<ResultOf<M>> {
  const client = await EniwallClient.connect(socketPath);
  try {
    return await client.call(method, params);
  } finally {
    client.close();
  }
}
