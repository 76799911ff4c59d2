/**
 * xtrace's metrics through prom-client: each mode sets a snapshot of its records as `Metric`s every
 * interval; the registry adds xtrace's own health (build info, push outcomes) and prom-client's
 * process and Node.js metrics (xtrace_process_*, xtrace_nodejs_*). The endpoint serves the Prometheus
 * text format, or OpenMetrics to a scraper that asks for it (Prometheus does); pushers read samples.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { release } from 'node:os';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { EXIT, XtError } from '../errors.js';
import { version } from '../version.js';

export type { Metric, Sample } from './metric.js';
export { eventsMetric, hookMetrics } from './metric.js';
import type { Metric, Sample } from './metric.js';

const OPENMETRICS = Registry.OPENMETRICS_CONTENT_TYPE;
const TEXT = Registry.PROMETHEUS_CONTENT_TYPE;

type PromMetric = Parameters<Registry['registerMetric']>[0];
interface PromValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}
interface PromData {
  name: string;
  help: string;
  type: string;
  values: PromValue[];
  aggregator: string;
}

/** A snapshot metric as prom-client's registry takes it (anything with a name and get()). */
function asPromMetric(m: Metric): PromMetric {
  const data: PromData = {
    name: m.name,
    help: m.help,
    type: m.type,
    aggregator: 'sum',
    values: m.samples.map((s) => ({ labels: s.labels, value: s.value, ...(s.suffix ? { metricName: m.name + s.suffix } : {}) })),
  };
  return { name: m.name, help: m.help, type: m.type, get: async () => data } as unknown as PromMetric;
}

/**
 * OpenMetrics names a counter family without `_total` and its sample with it; prom-client appends the
 * suffix to samples but takes the family name from get(): this hands it the bare name.
 */
function openMetricsView(m: PromMetric): PromMetric {
  const src = m as unknown as { name: string; help: string; type: string; get(): Promise<PromData> };
  return {
    name: src.name,
    help: src.help,
    type: src.type,
    get: async () => {
      const d = await src.get();
      return d.type === 'counter' ? { ...d, name: d.name.replace(/_total$/, '') } : d;
    },
  } as unknown as PromMetric;
}

export class MetricsRegistry {
  /** xtrace's own instruments and prom-client's defaults */
  readonly base = new Registry();
  private snapshot: Metric[] = [];

  constructor(mode: string) {
    collectDefaultMetrics({ prefix: 'xtrace_', register: this.base });
    // gauges that prom-client names with _total, which promtool (rightly) flags: the same counts stay
    // under xtrace_nodejs_active_{handles,requests,resources} (no suffix)
    for (const n of ['handles', 'requests', 'resources']) this.base.removeSingleMetric(`xtrace_nodejs_active_${n}_total`);
    new Gauge({
      name: 'xtrace_build_info',
      help: 'xtrace version, mode, Node.js and kernel release. Value is always 1.',
      labelNames: ['version', 'mode', 'nodejs', 'kernel'],
      registers: [this.base],
    }).set({ version: version(), mode, nodejs: process.versions.node, kernel: release() }, 1);
  }

  /** The mode's metrics for the next scrape or push (families without samples are left out). */
  set(metrics: Metric[]): void {
    this.snapshot = metrics.filter((m) => m.samples.length > 0);
  }

  private registry(openMetrics: boolean): Registry {
    // the typings declare no constructor argument; the content type is one
    const r = new (Registry as unknown as new (contentType: string) => Registry)(openMetrics ? OPENMETRICS : TEXT);
    for (const m of this.base.getMetricsAsArray() as unknown as PromMetric[]) r.registerMetric(openMetrics ? openMetricsView(m) : m);
    for (const m of this.snapshot) r.registerMetric(openMetrics ? openMetricsView(asPromMetric(m)) : asPromMetric(m));
    return r;
  }

  /** The exposition: Prometheus text format 0.0.4, or OpenMetrics 1.0.0. */
  async exposition(openMetrics = false): Promise<{ contentType: string; body: string }> {
    return { contentType: openMetrics ? OPENMETRICS : TEXT, body: await this.registry(openMetrics).metrics() };
  }

  /** Every sample, as a push sends it. */
  async samples(): Promise<Sample[]> {
    const out: Sample[] = [];
    for (const m of (await this.registry(false).getMetricsAsJSON()) as unknown as PromData[])
      for (const v of m.values) out.push({ name: v.metricName ?? m.name, labels: Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)])), value: v.value });
    return out;
  }
}

/** Whether a scraper's Accept header prefers OpenMetrics to the text format (Prometheus's does). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let om = -1;
  let text = -1;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().split(';').map((s) => s.trim());
    const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? 1);
    if (type === 'application/openmetrics-text') om = Math.max(om, q);
    else if (type === 'text/plain') text = Math.max(text, q);
  }
  return om > 0 && om >= text;
}

export class MetricsEndpoint {
  /** bumped by nextScrape: a scrape that arrived at epoch e serves what was set before e */
  private epoch = 0;
  private waiters: Array<{ epoch: number; wake: () => void }> = [];

  private constructor(private readonly server: Server) {}

  get arrival(): number {
    return this.epoch;
  }

  /** A scrape that arrived at `epoch` has been answered. */
  answered(epoch: number): void {
    const ready = this.waiters.filter((w) => w.epoch <= epoch);
    this.waiters = this.waiters.filter((w) => w.epoch > epoch);
    for (const w of ready) w.wake();
  }

  /** Resolves true once a scrape that arrived after this call has been answered, false after `ms`. */
  nextScrape(ms: number): Promise<boolean> {
    const epoch = ++this.epoch;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.wake !== wake);
        resolve(false);
      }, ms);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push({ epoch, wake });
    });
  }

  static async start(listen: { host: string; port: number }, flag: string, registry: MetricsRegistry): Promise<MetricsEndpoint> {
    let self: MetricsEndpoint | null = null;
    const server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        const arrived = self?.arrival ?? 0;
        registry.exposition(wantsOpenMetrics(req.headers.accept)).then(
          ({ contentType, body }) => {
            res.writeHead(200, { 'Content-Type': contentType });
            res.end(body, () => self?.answered(arrived));
          },
          (e: Error) => {
            res.writeHead(500, { 'Content-Type': 'text/plain' });
            res.end(`xtrace: ${e.message}\n`);
          },
        );
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('xtrace: metrics are at /metrics\n');
      }
    });
    const listen1 = (host: string): Promise<NodeJS.ErrnoException | null> =>
      new Promise((resolve) => {
        const onError = (e: NodeJS.ErrnoException): void => resolve(e);
        server.once('error', onError);
        server.listen(listen.port, host, () => {
          server.off('error', onError);
          resolve(null);
        });
      });
    // No host: every address of both families, as node_exporter does ('::' takes IPv4 too unless IPv6 is off).
    let err = await listen1(listen.host || '::');
    if (err && !listen.host && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) err = await listen1('0.0.0.0');
    if (err) {
      const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
      const why =
        err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EADDRNOTAVAIL' ? 'the address is not on this machine' : err.code === 'EACCES' ? 'permission denied (ports below 1024 need root)' : (err.code ?? err.message);
      throw new XtError(`${flag}: cannot listen on ${where}: ${why}; expected [host]:port with a free port on a local address`, err.code === 'EACCES' ? EXIT.PRIVILEGE : err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' ? EXIT.USAGE : EXIT.FAILURE);
    }
    self = new MetricsEndpoint(server);
    return self;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}
