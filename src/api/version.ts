/** The package version, read once from package.json (found by walking up from this file). */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  cached = '0.0.0';
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'eniwall' && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    }
    if (path.dirname(dir) === dir) break;
  }
  return cached;
}
