/**
 * The mode session: what every mode's run does around its own work (ready file, ticks, its own end, a
 * signal, a failing tick, detaching in steps, closing in reverse order), with links that record what
 * is done to them instead of kernel ones.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Link } from '../../src/bpf/link.js';
import { XtError } from '../../src/errors.js';
import { type Ended, Session } from '../../src/modes/session.js';

const noExport = { pushLabels: {}, pushBufferSamples: 0 };

/** A link that notes its destruction in `log`. */
const fakeLink = (log: string[], kind: string, target = 'lo'): Link => ({ kind, target, id: 1, progId: 2, destroy: () => log.push(`destroy ${kind}`) });

describe('mode session', () => {
  test('ready file after setup, a tick each interval, its own end: detach, finish, close in reverse order', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'xt-session-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const log: string[] = [];
    const s = new Session('test', { bpf: false });
    let ticks = 0;
    let end: (e: Ended) => void = () => undefined;
    await s.run({ ...noExport, intervalMs: 10, readyFile: join(dir, 'ready') }, async (metrics) => {
      assert.equal(metrics, null); // nothing to export
      s.own(() => log.push('close object'));
      s.own(() => log.push('close file'));
      s.attach(fakeLink(log, 'a'), fakeLink(log, 'b'));
      return {
        ready: 'test ready',
        tick: () => {
          if (++ticks === 3) end({ why: 'gone', say: 'every process has exited' });
        },
        ended: new Promise<Ended>((r) => (end = r)),
        onStop: (e) => log.push(`stop ${e.why}`),
        finish: (why, unread) => {
          log.push(`finish ${why} ${unread}`);
          assert.deepEqual(Object.keys(s.summaryBase()), ['type', 'mode', 'ts', 'duration_s']);
          assert.equal(s.summaryBase().mode, 'test');
        },
      };
    });
    const ready = JSON.parse(readFileSync(join(dir, 'ready'), 'utf8')) as { pid: number; links: Array<{ kind: string }> };
    assert.equal(ready.pid, process.pid);
    assert.deepEqual(ready.links.map((l) => l.kind), ['a', 'b']);
    assert.equal(ticks, 3);
    assert.deepEqual(log, ['stop gone', 'destroy b', 'destroy a', 'finish gone 0', 'close file', 'close object']);
  });

  test('a signal stops the run (SIGTERM); its handler goes with it, one shared handler ignores a late one', async () => {
    const runOnce = async (): Promise<{ during: Function[]; after: Function[]; log: string[] }> => {
      const s = new Session('test', { bpf: false });
      const during = process.listeners('SIGTERM');
      const log: string[] = [];
      await s.run({ ...noExport, intervalMs: 1000 }, async () => {
        setImmediate(() => process.emit('SIGTERM', 'SIGTERM'));
        return { ready: 'r', tick: () => undefined, finish: (why) => void log.push(`finish ${why}`) };
      });
      return { during, after: process.listeners('SIGTERM'), log };
    };
    const first = await runOnce();
    assert.deepEqual(first.log, ['finish SIGTERM']);
    const runHandler = first.during.filter((f) => !first.after.includes(f));
    assert.equal(runHandler.length, 1, "the run's handler is taken off");
    const late = first.after.filter((f) => !first.during.includes(f));
    assert.equal(late.length, 1, 'one handler for a signal between the end and the exit');
    process.emit('SIGTERM', 'SIGTERM'); // late: ignored, the process goes on
    const second = await runOnce();
    assert.ok(!second.during.includes(late[0]!), "a new run's handler takes over");
    assert.equal(second.after.length, first.after.length, 'no handler left behind, run after run');
  });

  test('detaching in steps: the others, then the step between, then the selected links', async () => {
    const log: string[] = [];
    const s = new Session('test', { bpf: false });
    await s.run({ ...noExport, intervalMs: 1000 }, async () => {
      s.attach(fakeLink(log, 'iter'), fakeLink(log, 'cgroup'), fakeLink(log, 'iter2'), fakeLink(log, 'tp'));
      s.detachInSteps((l) => l.kind.startsWith('iter'), () => log.push('restore'));
      s.detachWhere((l) => l.kind === 'tp'); // an interface gone mid-run
      return { ready: 'r', tick: () => undefined, ended: Promise.resolve({ why: 'gone', say: 'gone' }), finish: () => undefined };
    });
    assert.deepEqual(log, ['destroy tp', 'destroy cgroup', 'restore', 'destroy iter2', 'destroy iter']);
  });

  test('no summary when the run says nothing more can be written', async () => {
    let finished = false;
    const s = new Session('test', { bpf: false });
    await s.run({ ...noExport, intervalMs: 1000 }, async () => ({
      ready: 'r',
      tick: () => undefined,
      ended: Promise.resolve({ why: 'write failed', say: 'the capture cannot be written', summary: false }),
      finish: () => void (finished = true),
    }));
    assert.equal(finished, false);
  });

  test('a tick that throws ends the run with one line naming the mode; a failing setup detaches and closes', async () => {
    const log: string[] = [];
    const s = new Session('test', { bpf: false });
    await assert.rejects(
      s.run({ ...noExport, intervalMs: 5 }, async () => {
        s.own(() => log.push('closed'));
        s.attach(fakeLink(log, 'a'));
        return { ready: 'r', tick: () => { throw new Error('counters unreadable'); }, finish: () => void log.push('finish') };
      }),
      (e: unknown) => e instanceof XtError && e.message === 'test: counters unreadable',
    );
    assert.deepEqual(log, ['destroy a', 'closed']);
    const s2 = new Session('test', { bpf: false });
    const log2: string[] = [];
    await assert.rejects(
      s2.run({ ...noExport, intervalMs: 5 }, async () => {
        s2.own(() => log2.push('closed'));
        s2.attach(fakeLink(log2, 'a'));
        throw new XtError('test: no hook', 4);
      }),
      /^XtError: test: no hook$|test: no hook/,
    );
    assert.deepEqual(log2, ['destroy a', 'closed']);
  });
});
