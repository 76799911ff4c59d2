/**
 * The test harness where the machine cannot do what a test needs: with /proc/sys read-only (as Docker
 * mounts it), a network-namespace test skips with that reason, at once; with XTRACE_REQUIRE_KERNEL_TESTS=1
 * the skip is a failure. Run in a mount namespace of its own, /proc/sys remounted read-only there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { ROOT, hasCommand, requireKernel } from '../lib/env.js';

function readOnlyProcSys(strict: boolean): { status: number | null; out: string; ms: number } {
  const start = performance.now();
  const r = spawnSync(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$0" --test --test-reporter=tap "$1"', process.execPath, `${ROOT}dist/test/e2e/load.test.js`],
    // (NODE_TEST_CONTEXT would make the inner runner think it runs inside this one)
    { encoding: 'utf8', timeout: 120_000, env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), XTRACE_REQUIRE_KERNEL_TESTS: strict ? '1' : '0' } },
  );
  return { status: r.status, out: r.stdout + r.stderr, ms: performance.now() - start };
}

test('read-only /proc/sys: network-namespace tests skip with the reason (XTRACE_REQUIRE_KERNEL_TESTS=1: they fail), and nothing hangs', { timeout: 300_000 }, (t) => {
  if (!requireKernel(t, () => (hasCommand('unshare') ? null : 'needs unshare (util-linux)'))) return;
  const lax = readOnlyProcSys(false);
  assert.equal(lax.status, 0, lax.out);
  assert.match(lax.out, /# SKIP \/proc\/sys is read-only here \(a container: run it with --security-opt systempaths=unconfined\)/);
  const strict = readOnlyProcSys(true);
  assert.equal(strict.status, 1, strict.out);
  assert.match(strict.out, /kernel test cannot run here: \/proc\/sys is read-only here/);
  assert.ok(lax.ms < 60_000 && strict.ms < 60_000, `${Math.round(lax.ms)} ms, ${Math.round(strict.ms)} ms`);
});
