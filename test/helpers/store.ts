/**
 * Fixtures for tests that open a store or write files: a temporary directory
 * removed after the test, and the audit record a test stages its changes with.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { AuditEntry } from '../../src/store/store';

/** A fresh directory under the system temp dir (`prefix` names the test), removed afterwards. */
export function tempDir(t: TestContext, prefix = 'ewtest-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A successful audit record of a test's own making (uid 0, pid 1, action 'x'). */
export function testAudit(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    time: new Date(),
    uid: 0,
    pid: 1,
    credSource: 'test',
    action: 'x',
    params: {},
    ok: true,
    ...overrides,
  };
}
