/** Host readers: the text of /proc and /sys files (a root may stand in for them). */
import { readFileSync } from 'node:fs';

/** A pseudo-file's text without its final newline, or null when it cannot be read (absent, vanished, no permission). */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').replace(/\n$/, '');
  } catch {
    return null;
  }
}
