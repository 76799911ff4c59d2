/**
 * What every mode does around its own work, written once: the privilege check, stop signals (a second
 * one noted, a third exiting), the ready line and file, the interval timer, warnings about events
 * suppressed or lost, draining the rings at exit, a closed stdout, the summary's common fields, and
 * closing links, rings, objects and the exporter in reverse order of their making. A mode gives
 * `Session.run` its setup, which attaches through the session and returns its tick and its finish.
 */
import type { Link } from '../bpf/link.js';
import { linkInfo } from '../bpf/link.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RingReader } from '../bpf/ringbuf.js';
import { XtError } from '../errors.js';
import type { Exporter, ExportOptions } from '../export/exporter.js';
import { log } from '../log.js';
import { type StopReason, requireBpfPrivilege, signalReady, stopSignals, wallClock } from './common.js';

/**
 * One full collection between setup and ready: loading the modules, the object and the BTF leaves
 * megabytes of garbage that V8 would otherwise collect seconds into the run (its memory reducer: a
 * full mark on the worker threads, tens of ms), in the middle of what the run is measured on, and
 * that meanwhile counts in the resident set.
 */
function settleHeap(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** How long the final drain of the rings may take at exit. */
export const EXIT_DRAIN_MS = 300;

/** A run's own end (not a signal): every process it limited exited, every interface gone, a write failed. */
export interface Ended {
  why: string;
  /** the log line's words: "every interface is gone" */
  say: string;
  /** false: nothing more is written (the capture cannot be), as when stdout's reader has gone */
  summary?: boolean;
}

export interface ModeRun {
  /** the ready line: "attached eth0:tcx/ingress, ...; every 5000 ms" */
  ready: string;
  /** every --interval: read, render, export */
  tick(): void;
  /**
   * After the links are gone and the rings drained: the final records and the summary. Not called when
   * stdout's reader has gone (EPIPE). `unreadBytes`: what the rings still held after the drain.
   */
  finish(why: string, unreadBytes: number): Promise<void> | void;
  /** resolves when the run ends by itself */
  ended?: Promise<Ended>;
  /** the verb of the stop line: "detaching" (default), "removing the limit" */
  stopping?: string;
  /** told first how the run ends, before anything is detached (an exit code, an error to log) */
  onStop?(e: Ended): void;
}

export interface SessionOptions extends ExportOptions {
  readyFile?: string | undefined;
  intervalMs: number;
}

export class Session<M extends string = string> {
  /** the first stop: a signal, or stdout's reader gone */
  readonly stopped: Promise<StopReason>;
  /** bpf_ktime_get_ns() to the time of day; `startNs` is when the run began */
  readonly clock = wallClock();
  private readonly closers: Array<() => unknown> = [];
  private readonly links: Link[] = [];
  private readonly disposeSignals: () => void;
  private ring: RingReader | null = null;

  constructor(
    readonly mode: M,
    o: { bpf: boolean },
  ) {
    if (o.bpf) requireBpfPrivilege(mode);
    // handlers first: a signal during setup still detaches and summarises
    const signals = stopSignals();
    this.stopped = signals.stopped;
    this.disposeSignals = signals.dispose;
  }

  /** A cleanup, run at close in reverse order of registration (objects, files, sockets). */
  own(close: () => unknown): void {
    this.closers.push(close);
  }

  /** Links this run made: destroyed by detach() (and at close), in reverse order. */
  attach(...ls: Link[]): void {
    this.links.push(...ls);
  }

  get attached(): readonly Link[] {
    return this.links;
  }

  private between: { last: (l: Link) => boolean; then: () => void } | null = null;

  /**
   * Detaching in two steps: every link but those `last` selects, then `then()` (once), then those. limit:
   * its hooks (no socket is queued after), every paced socket's own settings back, then the iterators.
   */
  detachInSteps(last: (l: Link) => boolean, then: () => void): void {
    this.between = { last, then };
  }

  /** Destroys the links `which` selects, newest first (an interface's, when it is gone). */
  detachWhere(which: (l: Link) => boolean): void {
    for (let i = this.links.length - 1; i >= 0; i--) if (which(this.links[i]!)) this.links.splice(i, 1)[0]!.destroy();
  }

  /** Destroys this run's links, newest first (safe to call twice). */
  detach(): void {
    const steps = this.between;
    this.between = null;
    if (steps) {
      this.detachWhere((l) => !steps.last(l));
      steps.then();
    }
    this.detachWhere(() => true);
  }

  /** The run's ring reader, made once (closed at close). */
  /** The run's ring reader; `tickMs` (how often it reads rings that were not woken) is taken at the first call. */
  rings(tickMs?: number): RingReader {
    if (!this.ring) {
      const r = new RingReader(undefined, undefined, tickMs);
      this.ring = r;
      this.own(() => r.close());
    }
    return this.ring;
  }

  /** The exporter of --metrics-listen and the push flags (null without them), closed at close. */
  private async export(o: ExportOptions): Promise<Exporter | null> {
    // prom-client and the push code are loaded only by a run that exports
    if (!o.metricsListen && !o.remoteWrite && !o.victoriametrics && !process.env.VICTORIAMETRICS_ENABLED) return null;
    const e = await (await import('../export/exporter.js')).Exporter.start(this.mode, o);
    if (e) this.own(() => e.close());
    return e;
  }

  /** Seconds since the run began. */
  durationS(): number {
    return Number(process.hrtime.bigint() - this.clock.startNs) / 1e9;
  }

  /** The fields every summary has. */
  summaryBase(): { type: 'summary'; mode: M; ts: string; duration_s: number } {
    return { type: 'summary', mode: this.mode, ts: new Date().toISOString(), duration_s: Math.round(this.durationS() * 100) / 100 };
  }

  /**
   * Warns, once an interval at most, of events over a rate limit (suppressed in the kernel) and events
   * the ring had no room for (lost): call with the counts so far.
   */
  eventWarner(limitFlag: string, limit: number, intervalMs: number, quiet = false): (c: { events_suppressed: number; events_lost: number }) => void {
    let seen = { suppressed: 0, lost: 0 };
    return (c) => {
      const sup = c.events_suppressed - seen.suppressed;
      const lost = c.events_lost - seen.lost;
      if ((sup > 0 || lost > 0) && !quiet) log.warn(`${sup} events over ${limitFlag} ${limit}/s suppressed, ${lost} lost (ring buffer full) in the last ${intervalMs} ms; counts in the summary`);
      seen = { suppressed: c.events_suppressed, lost: c.events_lost };
    };
  }

  /**
   * The run: the exporter first (a listen address in use, a push target that does not answer: bad
   * input, before anything is attached), setup (which attaches through the session), ready, a tick
   * every interval, until a signal,
   * stdout's reader going, or the run's own end; then detach, drain, finish. Errors that are not
   * XtErrors become one line naming the mode. Everything is closed whatever happens.
   */
  async run(o: SessionOptions, setup: (metrics: Exporter | null) => Promise<ModeRun>): Promise<void> {
    let timer: ReturnType<typeof setInterval> | null = null;
    try {
      const run = await setup(await this.export(o));
      settleHeap();
      signalReady(o.readyFile, run.ready, this.links.map(linkInfo));
      // a tick that throws ends the run with its message (exit 1), after detaching
      let failed: (e: Error) => void = () => undefined;
      const failure = new Promise<Error>((r) => (failed = r));
      timer = setInterval(() => {
        try {
          run.tick();
        } catch (e) {
          failed(e as Error);
        }
      }, o.intervalMs);
      const ended = run.ended ?? new Promise<Ended>(() => undefined);
      const stop = await Promise.race([this.stopped.then((why): Ended => ({ why, say: why === 'EPIPE' ? 'stdout closed' : why })), ended, failure]);
      clearInterval(timer);
      timer = null;
      if (stop instanceof Error) throw stop;
      run.onStop?.(stop);
      log.info(`${stop.say}: ${run.stopping ?? 'detaching'}`);
      this.detach();
      if (stop.why === 'EPIPE' || stop.summary === false) return; // nobody is reading, or nothing more can be written: no summary
      // what the programs sent before they were detached, read for a bounded time
      this.ring?.drainUntil(performance.now() + EXIT_DRAIN_MS);
      await run.finish(stop.why, this.ring?.lag() ?? 0);
    } catch (e) {
      if (e instanceof XtError) throw e;
      throw new XtError(`${this.mode}: ${(e as Error).message}`);
    } finally {
      if (timer) clearInterval(timer);
      this.detach();
      await this.close();
    }
  }

  private async close(): Promise<void> {
    while (this.closers.length) {
      const close = this.closers.pop()!;
      try {
        await close();
      } catch (e) {
        log.debug(`${this.mode}: closing: ${(e as Error).message}`);
      }
    }
    this.disposeSignals();
  }
}

