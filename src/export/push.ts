/**
 * Push to a central store: Prometheus remote-write (protobuf through protobufjs, snappy block
 * compression through snappyjs) and VictoriaMetrics' JSON-lines import API. Each interval's samples
 * join a bounded queue (oldest dropped first, counted); one request at a time, retried with backoff;
 * failures counted and logged at most once a minute. Nothing here blocks the caller.
 */
import protobuf from 'protobufjs';
import { Counter, Gauge, type Registry } from 'prom-client';
import snappy from 'snappyjs';
import { usageError } from '../errors.js';
import { log } from '../log.js';
import type { PushAuth, PushTarget } from '../options/push.js';
import type { Sample } from './prometheus.js';

/** remote.proto's WriteRequest, the part remote-write 1.0 uses (tests decode with it) */
export const WRITE_REQUEST = protobuf.Root.fromJSON({
  nested: {
    WriteRequest: { fields: { timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 } } },
    TimeSeries: { fields: { labels: { rule: 'repeated', type: 'Label', id: 1 }, samples: { rule: 'repeated', type: 'Sample', id: 2 } } },
    Label: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    Sample: { fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } } },
  },
}).lookupType('WriteRequest');

export interface Batch {
  /** ms since the epoch */
  ts: number;
  samples: Sample[];
}

/** The series of some batches, each with its samples in time order, labels sorted by name (__name__ first). */
function series(batches: Batch[], extra: Record<string, string>): Array<{ labels: Array<[string, string]>; points: Array<[number, number]> }> {
  const byKey = new Map<string, { labels: Array<[string, string]>; points: Array<[number, number]> }>();
  for (const b of batches)
    for (const s of b.samples) {
      const labels = Object.entries({ ...s.labels, ...extra, __name__: s.name }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const key = JSON.stringify(labels);
      let e = byKey.get(key);
      if (!e) byKey.set(key, (e = { labels, points: [] }));
      e.points.push([s.value, b.ts]);
    }
  return [...byKey.values()];
}

export function encodeRemoteWrite(batches: Batch[], extra: Record<string, string> = {}): Uint8Array {
  const timeseries = series(batches, extra).map((s) => ({
    labels: s.labels.map(([name, value]) => ({ name, value })),
    samples: s.points.map(([value, timestamp]) => ({ value, timestamp })),
  }));
  return snappy.compress(WRITE_REQUEST.encode(WRITE_REQUEST.fromObject({ timeseries })).finish());
}

/** VictoriaMetrics /api/v1/import: one JSON object a series. */
export function encodeVmImport(batches: Batch[], extra: Record<string, string> = {}): string {
  return series(batches, extra)
    .map((s) => JSON.stringify({ metric: Object.fromEntries(s.labels), values: s.points.map((p) => (Number.isFinite(p[0]) ? p[0] : String(p[0]))), timestamps: s.points.map((p) => p[1]) }) + '\n')
    .join('');
}

export type { Protocol, PushAuth, PushTarget } from '../options/push.js';

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 15_000;
const REQUEST_TIMEOUT_MS = 10_000;
const LOG_EVERY_MS = 60_000;
/** samples in one request at most (whole batches) */
const REQUEST_SAMPLES = 50_000;

export interface PushStats {
  sent: Counter;
  dropped: Counter;
  failures: Counter;
  pending: Gauge;
}

export function pushStats(register: Registry): PushStats {
  return {
    sent: new Counter({ name: 'xtrace_push_samples_sent_total', help: 'Samples the push target accepted', labelNames: ['target'], registers: [register] }),
    dropped: new Counter({
      name: 'xtrace_push_samples_dropped_total',
      help: 'Samples given up: reason="buffer_full" (oldest dropped while the target was away), "rejected" (the target refused them: 4xx), "exit" (still queued at exit)',
      labelNames: ['target', 'reason'],
      registers: [register],
    }),
    failures: new Counter({ name: 'xtrace_push_failures_total', help: 'Push requests that failed (unreachable, timeout, 5xx, 429) and will be retried', labelNames: ['target'], registers: [register] }),
    pending: new Gauge({ name: 'xtrace_push_pending_samples', help: 'Samples waiting to be pushed', labelNames: ['target'], registers: [register] }),
  };
}

export class Pusher {
  private queue: Batch[] = [];
  private queued = 0;
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  private backoff = BACKOFF_MIN_MS;
  private failingSince: number | null = null;
  private lastLog = -Infinity;
  private failuresSinceLog = 0;
  private lastError = '';
  private idle: Array<() => void> = [];

  constructor(
    readonly target: PushTarget,
    private readonly auth: PushAuth,
    private readonly labels: Record<string, string>,
    private readonly maxSamples: number,
    private readonly stats: PushStats,
  ) {
    for (const reason of ['buffer_full', 'rejected', 'exit']) stats.dropped.inc({ target: target.name, reason }, 0);
    stats.sent.inc({ target: target.name }, 0);
    stats.failures.inc({ target: target.name }, 0);
    stats.pending.set({ target: target.name }, 0);
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> =
      this.target.protocol === 'remote-write'
        ? { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0', 'User-Agent': 'xtrace' }
        : { 'Content-Type': 'application/stream+json', 'User-Agent': 'xtrace' };
    if (this.auth.basic) h.Authorization = `Basic ${Buffer.from(`${this.auth.basic.user}:${this.auth.basic.password}`).toString('base64')}`;
    else if (this.auth.bearer) h.Authorization = `Bearer ${this.auth.bearer}`;
    return h;
  }

  private body(batches: Batch[]): BodyInit {
    return this.target.protocol === 'remote-write' ? (encodeRemoteWrite(batches, this.labels) as unknown as BodyInit) : encodeVmImport(batches, this.labels);
  }

  private async post(batches: Batch[]): Promise<Response> {
    return fetch(this.target.url, { method: 'POST', headers: this.headers(), body: this.body(batches), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  }

  /**
   * Before anything is attached: an empty push, so an unreachable or wrong target is bad input now,
   * not a stream of failures later.
   */
  async check(): Promise<void> {
    const t = this.target;
    const form = t.protocol === 'remote-write' ? 'a remote-write receiver (Prometheus needs --web.enable-remote-write-receiver)' : 'VictoriaMetrics (its /api/v1/import)';
    let r: Response;
    try {
      r = await this.post([]);
    } catch (e) {
      const c = (e as { cause?: { code?: string; message?: string } }).cause;
      throw usageError(`${t.flag}: cannot reach ${t.url.href}: ${c?.code ?? c?.message ?? (e as Error).message}; expected the URL of ${form}`);
    }
    await r.arrayBuffer().catch(() => undefined);
    if (r.status === 401 || r.status === 403)
      throw usageError(`${t.flag}: ${t.url.href} answered ${r.status} ${r.statusText}: check --push-basic-auth-file or --push-bearer-token-file`);
    if (!r.ok) throw usageError(`${t.flag}: ${t.url.href} answered ${r.status} ${r.statusText}; expected the URL of ${form}`);
  }

  /** Queues one interval's samples; the oldest are dropped when more than maxSamples wait. */
  push(batch: Batch): void {
    if (batch.samples.length === 0) return;
    this.queue.push(batch);
    this.queued += batch.samples.length;
    while (this.queued > this.maxSamples && this.queue.length > 1) {
      const old = this.queue.shift()!;
      this.queued -= old.samples.length;
      this.stats.dropped.inc({ target: this.target.name, reason: 'buffer_full' }, old.samples.length);
    }
    this.stats.pending.set({ target: this.target.name }, this.queued);
    if (!this.busy && !this.timer) void this.send();
  }

  private async send(): Promise<void> {
    this.busy = true;
    const name = this.target.name;
    while (this.queue.length) {
      const take: Batch[] = [];
      let n = 0;
      for (const b of this.queue) {
        if (take.length && n + b.samples.length > REQUEST_SAMPLES) break;
        take.push(b);
        n += b.samples.length;
      }
      let outcome: 'ok' | 'rejected' | 'retry';
      try {
        const r = await this.post(take);
        const text = r.ok ? '' : (await r.text().catch(() => '')).trim().split('\n')[0]!.slice(0, 200);
        await r.body?.cancel().catch(() => undefined);
        outcome = r.ok ? 'ok' : r.status >= 500 || r.status === 429 || r.status === 408 ? 'retry' : 'rejected';
        if (!r.ok) this.lastError = `${r.status} ${r.statusText}${text ? `: ${text}` : ''}`;
      } catch (e) {
        const c = (e as { cause?: { code?: string } }).cause;
        outcome = 'retry';
        this.lastError = c?.code ?? (e as Error).message;
      }
      if (outcome === 'retry') {
        this.stats.failures.inc({ target: name });
        this.failuresSinceLog++;
        this.failingSince ??= Date.now();
        this.logFailure();
        this.busy = false;
        this.timer = setTimeout(() => {
          this.timer = null;
          void this.send();
        }, this.backoff);
        this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
        return;
      }
      this.queue.splice(0, take.length);
      this.queued -= n;
      this.stats.pending.set({ target: name }, this.queued);
      if (outcome === 'ok') {
        this.stats.sent.inc({ target: name }, n);
        if (this.failingSince !== null) log.info(`${this.target.flag}: pushing to ${this.target.url.href} again after ${Math.round((Date.now() - this.failingSince) / 1000)} s`);
        this.failingSince = null;
        this.backoff = BACKOFF_MIN_MS;
      } else {
        this.stats.dropped.inc({ target: name, reason: 'rejected' }, n);
        this.failuresSinceLog++;
        this.logFailure(n);
      }
    }
    this.busy = false;
    for (const f of this.idle.splice(0)) f();
  }

  private logFailure(rejected = 0): void {
    const now = Date.now();
    if (now - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = now;
    const what = rejected ? `rejected ${rejected} samples (not retried)` : `failing, retrying with backoff; ${this.queued} samples waiting`;
    log.warn(`${this.target.flag}: push to ${this.target.url.href} ${what}: ${this.lastError} (${this.failuresSinceLog} failures in the last minute)`);
    this.failuresSinceLog = 0;
  }

  /** At exit: one more try for what waits, for at most `ms`; what is left is counted as dropped. */
  async close(ms: number): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      if (!this.busy) void this.send();
    } else if (!this.busy && this.queue.length) void this.send();
    if (this.busy) await Promise.race([new Promise<void>((r) => this.idle.push(r)), new Promise((r) => setTimeout(r, ms).unref())]);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.queued) {
      log.warn(`${this.target.flag}: ${this.queued} samples not pushed at exit (${this.lastError || 'time ran out'})`);
      this.stats.dropped.inc({ target: this.target.name, reason: 'exit' }, this.queued);
    }
  }
}
