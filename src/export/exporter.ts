/**
 * What a mode exports, in one place: the --metrics-listen endpoint and the pushes (--remote-write,
 * --victoriametrics), over one registry. A mode starts it before attaching (bad targets are bad input
 * then), sets its metrics every interval, and closes it at exit (a last push, bounded in time).
 */
import { hostname } from 'node:os';
import { usageError } from '../errors.js';
import { log } from '../log.js';
import type { Sink } from '../records/index.js';
import { type Metric, MetricsEndpoint, MetricsRegistry } from './prometheus.js';
import { type PushAuth, type PushTarget, Pusher, pushStats } from './push.js';

export interface ExportOptions {
  metricsListen?: { host: string; port: number } | undefined;
  remoteWrite?: PushTarget | undefined;
  victoriametrics?: PushTarget | undefined;
  /** labels added to every pushed series */
  pushLabels: Record<string, string>;
  pushBasicAuthFile?: { user: string; password: string } | undefined;
  pushBearerTokenFile?: string | undefined;
  pushBufferSamples: number;
}

/** How long the last push may take at exit. */
const EXIT_PUSH_MS = 3000;

/** A Sink of metrics: records() takes an interval's (the last one is served and pushed); it has no per-packet ones. */
export class Exporter implements Sink<Metric, never> {
  private constructor(
    private readonly registry: MetricsRegistry,
    private readonly endpoint: MetricsEndpoint | null,
    private readonly pushers: Pusher[],
  ) {}

  /** Null when nothing is exported. Throws (bad input) for a listen address in use or a push target that does not answer. */
  static async start(mode: string, o: ExportOptions): Promise<Exporter | null> {
    if (!o.victoriametrics && /^(1|true|yes|on)$/i.test(process.env.VICTORIAMETRICS_ENABLED ?? ''))
      throw usageError('VICTORIAMETRICS_ENABLED: set VICTORIAMETRICS_REMOTE_WRITE (or --victoriametrics) to the server\'s URL, e.g. http://vm:8428');
    const targets = [o.remoteWrite, o.victoriametrics].filter((t): t is PushTarget => t !== undefined);
    if (!o.metricsListen && targets.length === 0) return null;
    const registry = new MetricsRegistry(mode);
    const auth: PushAuth = { basic: o.pushBasicAuthFile, bearer: o.pushBearerTokenFile };
    const labels = { job: 'xtrace', instance: hostname(), ...o.pushLabels };
    const stats = targets.length ? pushStats(registry.base) : null;
    const pushers = targets.map((t) => new Pusher(t, auth, labels, o.pushBufferSamples, stats!));
    for (const p of pushers) await p.check();
    const endpoint = o.metricsListen ? await MetricsEndpoint.start(o.metricsListen, '--metrics-listen', registry) : null;
    if (endpoint) log.info(`metrics at ${endpoint.url}`);
    for (const p of pushers) log.info(`pushing to ${p.target.url.href} (${p.target.protocol}) every interval`);
    return new Exporter(registry, endpoint, pushers);
  }

  private queued: Promise<void> = Promise.resolve();

  event(): void {}

  flush(): void {}

  /** The mode's metrics of this interval: served from now on, and pushed. */
  records(metrics: readonly Metric[]): void {
    this.registry.set([...metrics]);
    if (this.pushers.length === 0) return;
    const ts = Date.now();
    this.queued = this.registry.samples().then(
      (samples) => {
        for (const p of this.pushers) p.push({ ts, samples });
      },
      (e: Error) => {
        log.warn(`metrics: ${e.message}`);
      },
    );
  }

  /**
   * A run that ends by itself (every limited process exited, every interface gone) serves its final
   * values to one more scrape: waits until a scrape begun after the last records() has been answered, at
   * most `ms` (or until `abort` resolves: a signal). Without --metrics-listen, at once.
   */
  async lastScrape(ms: number, abort: Promise<unknown>): Promise<void> {
    if (!this.endpoint) return;
    log.info(`waiting up to ${Math.round(ms / 1000)} s for a last scrape of ${this.endpoint.url} (its final values)`);
    const scraped = await Promise.race([this.endpoint.nextScrape(ms), abort.then(() => false)]);
    log.info(scraped ? 'the final values were scraped' : 'no scrape came for the final values');
  }

  /** After the last records(): its push, and what still waits, for at most a few seconds. */
  async close(): Promise<void> {
    await this.queued;
    await Promise.all(this.pushers.map((p) => p.close(EXIT_PUSH_MS)));
    await this.endpoint?.close();
  }
}
