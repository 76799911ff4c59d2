/** Writable copies of the sysfs/proc fixture trees (symlinks kept as they are). */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './env.js';

export const FIXTURES = join(ROOT, 'test/fixtures');

export class FixtureCopy {
  readonly dir = mkdtempSync(join(tmpdir(), 'xt-sysfs-'));
  readonly sys = join(this.dir, 'sysfs');
  readonly proc = join(this.dir, 'proc');

  constructor() {
    cpSync(join(FIXTURES, 'sysfs'), this.sys, { recursive: true, verbatimSymlinks: true });
    cpSync(join(FIXTURES, 'proc'), this.proc, { recursive: true, verbatimSymlinks: true });
  }

  get roots(): { sys: string; proc: string } {
    return { sys: this.sys, proc: this.proc };
  }

  /** Writes a file under the device's port directory, as the kernel would show it. */
  port(dev: string, port: number, rel: string, value: string | number | bigint): void {
    writeFileSync(join(this.sys, 'class/infiniband', dev, 'ports', String(port), rel), `${value}\n`);
  }

  remove(rel: string): void {
    rmSync(join(this.sys, rel), { recursive: true, force: true });
  }

  destroy(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
