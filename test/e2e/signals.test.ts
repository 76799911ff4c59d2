/**
 * Stopping: a second SIGTERM (or Ctrl-C) while a mode detaches is noted and ignored, so the summary always
 * comes and the exit is 0 (`timeout` and impatient users send two); a third exits at once, saying so.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { XtraceProcess, sleep } from '../lib/cli.js';
import { ROOT, requireKernel } from '../lib/env.js';
import { NetnsPair } from '../lib/netns.js';
import { cgroup2Root } from '../../src/host/procs.js';

const ROUNDS = 4;

/** Two signals 2 ms apart, ROUNDS times: each run ends with its summary and exit 0. */
async function twice(make: () => XtraceProcess, sig: NodeJS.Signals): Promise<void> {
  for (let i = 0; i < ROUNDS; i++) {
    const x = make();
    try {
      await x.ready();
      x.child.kill(sig);
      await sleep(2);
      x.child.kill(sig);
      const r = await x.wait();
      assert.equal(r.code, 0, `round ${i}: exit ${r.code ?? r.signal}: ${r.stderr}`);
      assert.ok(r.records.some((q) => q.type === 'summary'), `round ${i}: the summary: ${r.stdout.slice(-300)}`);
      assert.doesNotMatch(r.stderr, /exiting at once/);
    } finally {
      await x.kill();
    }
  }
}

describe('signals while detaching', () => {
  test('xdp: SIGTERM twice -> summary, exit 0; SIGINT twice the same', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const make = (): XtraceProcess => new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '-p', '--interval', '200'], { ns: p.nsA });
    await twice(make, 'SIGTERM');
    await twice(make, 'SIGINT');
  });

  test('stack: SIGTERM twice -> summary, exit 0', async (t) => {
    if (!requireKernel(t)) return;
    await twice(() => new XtraceProcess(['stack', '-p', '5799', '-o', 'json']), 'SIGTERM');
  });

  test('limit: SIGTERM twice -> summary, exit 0', async (t) => {
    if (!requireKernel(t, () => (cgroup2Root() ? null : 'needs a cgroup v2 hierarchy'))) return;
    const target = spawn('sleep', ['600'], { stdio: 'ignore' });
    t.after(() => void target.kill('SIGKILL'));
    await twice(() => new XtraceProcess(['limit', '-p', String(target.pid), '-r', '1M', '-o', 'json']), 'SIGTERM');
  });

  test('a third signal exits at once with a line saying so (the second is only noted)', async () => {
    // a stand-in mode: stops on the first signal, then stays busy while two more arrive
    const script = `
      const { untilStopped } = await import(${JSON.stringify(`${ROOT}dist/src/modes/common.js`)});
      const stopped = untilStopped();
      setInterval(() => {}, 1000); // a mode's interval timer keeps it running
      console.log('waiting');
      const why = await stopped;
      console.log('stopping on', why);
      for (let i = 0; i < 2; i++) { process.kill(process.pid, 'SIGTERM'); await new Promise((r) => setTimeout(r, 100)); }
      console.log('not reached');`;
    const c = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XTRACE_LOG_FORMAT: 'text' } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; i < 200 && !out.includes('waiting'); i++) await sleep(25);
    c.kill('SIGTERM');
    const code = await new Promise((r) => c.on('close', r));
    assert.equal(code, 1, err);
    assert.match(out, /stopping on SIGTERM/);
    assert.doesNotMatch(out, /not reached/);
    assert.match(err, /warn: SIGTERM again while detaching: ignored, the summary follows/);
    assert.match(err, /xtrace: SIGTERM: exiting at once, without a summary/);
  });
});
