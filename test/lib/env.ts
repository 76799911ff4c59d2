/** Skips with a reason when a requirement is missing; with XTRACE_REQUIRE_KERNEL_TESTS=1 (CI) the skip is a failure. */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
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

/**
 * Network namespaces need a writable /proc/sys (the harness turns IPv6 off on its links): Docker mounts
 * it read-only unless the container runs with --security-opt systempaths=unconfined.
 */
function procSysProblem(): string | null {
  try {
    accessSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', constants.W_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null; // no IPv6: nothing to turn off
    return code === 'EROFS'
      ? '/proc/sys is read-only here (a container: run it with --security-opt systempaths=unconfined); network-namespace tests write sysctls'
      : `/proc/sys is not writable (${code})`;
  }
}
const sysReason = reason ?? procSysProblem();

/**
 * Call first in a kernel test: returns false (and skips, or fails in CI) when the machine cannot run it.
 * Every kernel test but the few that make no network namespace (`netns: false`) also needs /proc/sys writable.
 */
export function requireKernel(t: TestContext, extra?: () => string | null, o: { netns?: boolean } = {}): boolean {
  const why = (o.netns === false ? reason : sysReason) ?? extra?.() ?? null;
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
