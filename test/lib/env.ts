/** Skips with a reason when a requirement is missing; with XTRACE_REQUIRE_KERNEL_TESTS=1 (CI) the skip is a failure. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = `${ROOT}dist/src/cli.js`;
export const BPF_OBJECT = `${ROOT}build/bpf/flow.bpf.o`;
export const STRICT = process.env.XTRACE_REQUIRE_KERNEL_TESTS === '1';
/** Timeouts are multiplied by this (XTRACE_TEST_SLOWDOWN: a guest kernel under software emulation is slower). */
export const SLOWDOWN = Number(process.env.XTRACE_TEST_SLOWDOWN ?? 1) || 1;

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, BPF)';
  for (const tool of ['ip', 'bpftool']) if (!hasCommand(tool)) return `needs ${tool}`;
  if (!existsSync(BPF_OBJECT)) return `needs ${BPF_OBJECT} (make build)`;
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'needs kernel BTF';
  return null;
}
const reason = missing();

/** Call first in a kernel test: returns false (and skips, or fails in CI) when the machine cannot run it. */
export function requireKernel(t: TestContext, extra?: () => string | null): boolean {
  const why = reason ?? extra?.() ?? null;
  if (!why) return true;
  if (STRICT) throw new Error(`kernel test cannot run here: ${why} (XTRACE_REQUIRE_KERNEL_TESTS=1)`);
  t.skip(why);
  return false;
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Call first in a test that runs other programs: false (and skips, or fails in CI) when one is not installed. */
export function requireCommands(t: TestContext, install: string, ...cmds: string[]): boolean {
  const missing = cmds.filter((c) => !hasCommand(c));
  if (missing.length === 0) return true;
  const why = `needs ${missing.join(', ')} (apt-get install ${install})`;
  if (STRICT) throw new Error(`test cannot run here: ${why} (XTRACE_REQUIRE_KERNEL_TESTS=1)`);
  t.skip(why);
  return false;
}
