/** xtrace's version: package.json's, read once (the build keeps package.json beside dist/). */
import { readFileSync } from 'node:fs';

let v: string | undefined;
export function version(): string {
  if (v === undefined) {
    try {
      v = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      v = 'unknown';
    }
  }
  return v;
}
