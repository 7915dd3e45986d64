/**
 * eniwall as a library: the typed client of the daemon's API, its protocol
 * types, and the model and compiler public pieces (for tools that compute or
 * check state offline).
 */
export { EniwallClient, ApiError, callOnce } from './api/client';
export * from './api/protocol';
export { resolveSocket, resolveStateDir, DEFAULT_SOCKET, DEFAULT_STATE_DIR } from './api/paths';
export * from './model';
export {
  TableCompiler,
  compileTable,
  evaluate,
  type ReferenceQuery,
  type ReferenceVerdict,
} from './compiler';
