/** test/kernels/run.sh's watchdog: stopped, it leaves nothing holding the caller's output; expired, it kills. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { ROOT } from '../lib/env.js';

/** Runs a bash script through `| cat` (as a CI log reader does): its output, and how long until the pipe closed. */
function piped(script: string): Promise<{ out: string; ms: number }> {
  const start = performance.now();
  const sh = spawn('bash', ['-c', `( . '${ROOT}test/kernels/watchdog.sh'; ${script} ) | cat`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => sh.on('close', () => resolve({ out, ms: performance.now() - start })));
}

test('watchdog: stopped once its process is done, the pipe of the caller closes at once (no timer left holding it)', { timeout: 20_000 }, async () => {
  const r = await piped('sleep 30 & p=$!; watchdog_start 600 "$p"; kill "$p"; wait "$p"; watchdog_stop; echo done');
  assert.equal(r.out.trim(), 'done');
  assert.ok(r.ms < 5000, `the pipe closed after ${Math.round(r.ms)} ms`);
});

test('watchdog: expired, it kills the process', { timeout: 20_000 }, async () => {
  const r = await piped('sleep 30 & p=$!; watchdog_start 1 "$p"; wait "$p"; echo "status $?"; watchdog_stop');
  assert.equal(r.out.trim(), 'status 137');
  assert.ok(r.ms < 10_000, `killed after ${Math.round(r.ms)} ms`);
});
