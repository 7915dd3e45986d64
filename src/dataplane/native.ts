/**
 * Loads the native addon (build/Release/eniwall.node) once, and says every
 * place it looked when it cannot. Also the typed front of the addon's two
 * engine-less calls (table validation and batched classifier queries), which
 * differential tests and `check` use.
 */
import fs from 'node:fs';
import path from 'node:path';

import ipaddr from 'ipaddr.js';

import type { Direction, Family } from '../model/types';
import type { NativeAddon } from './native.d';

/** Environment variable naming an addon to load instead of the built one. */
export const ADDON_ENV = 'ENIWALL_ADDON';

/** Places the addon may be, in order: the override, then the build dirs of this checkout. */
export function addonCandidates(): string[] {
  const override = process.env[ADDON_ENV];
  // __dirname is dist/src/dataplane when compiled, src/dataplane under a TS runner.
  const roots = [path.resolve(__dirname, '../../..'), path.resolve(__dirname, '../..')];
  const built = roots.flatMap((root) =>
    ['Release', 'Debug'].map((kind) => path.join(root, 'build', kind, 'eniwall.node')),
  );
  return [...(override ? [path.resolve(override)] : []), ...new Set(built)];
}

let loaded: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (loaded) return loaded;
  const tried: string[] = [];
  for (const candidate of addonCandidates()) {
    if (!fs.existsSync(candidate)) {
      tried.push(`${candidate}: not found`);
      continue;
    }
    try {
      // A .node file can only be loaded by path at run time, hence require().
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require(candidate) as NativeAddon;
      return loaded;
    } catch (err) {
      tried.push(`${candidate}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(
    `cannot load the eniwall native addon (build it with \`make build-native\`); looked in:\n  ` +
      tried.join('\n  '),
  );
}

export interface ClassifyQuery {
  eniIndex: number; // index into the snapshot's enis, as compiled
  direction: Direction;
  family: Family;
  protocol: number; // IP protocol number
  key: number; // TCP/UDP destination port; ICMP type<<8|code; 0 otherwise
  peer: string; // address of the peer, of `family`
}

export interface ClassifyVerdict {
  allowed: boolean;
  /** The matching interval is covered by a literal /0 rule. */
  world: boolean;
}

export const CLASSIFY_QUERY_WORDS = 8;

function encodeQuery(q: ClassifyQuery, out: Uint32Array, at: number): void {
  const addr = ipaddr.parse(q.peer);
  const bytes = addr.toByteArray();
  const wantBytes = q.family === 'ipv4' ? 4 : 16;
  if (bytes.length !== wantBytes) throw new Error(`peer ${q.peer} is not an ${q.family} address`);
  out[at] = q.eniIndex;
  out[at + 1] =
    (q.direction === 'egress' ? 1 : 0) |
    ((q.family === 'ipv6' ? 1 : 0) << 8) |
    ((q.protocol & 0xff) << 16);
  out[at + 2] = q.key & 0xffff;
  for (let w = 0; w < bytes.length / 4; w++) {
    const b = bytes.slice(w * 4, w * 4 + 4);
    out[at + 4 + w] =
      (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  }
}

/** Typed front of the engine-less native calls. */
export const native = {
  /** null when the table would load, else the loader's message. */
  validateTable(table: Uint8Array): string | null {
    return loadNative().validateTable(table);
  },

  /** Loads `table` once and answers every query with the native classifier. */
  classifyBatch(table: Uint8Array, queries: readonly ClassifyQuery[]): ClassifyVerdict[] {
    const words = new Uint32Array(queries.length * CLASSIFY_QUERY_WORDS);
    queries.forEach((q, i) => encodeQuery(q, words, i * CLASSIFY_QUERY_WORDS));
    const raw = loadNative().classifyBatch(table, words);
    return Array.from(raw, (r, i) => {
      if (r < 0)
        throw new Error(`classifyBatch: ENI index ${queries[i]?.eniIndex} not in the table`);
      return { allowed: r > 0, world: r === 2 };
    });
  },
};
