/** Prometheus text exposition (format 0.0.4) over HTTP: GET /metrics. Snapshots are set by the mode each interval. */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EXIT, XtError } from '../errors.js';

export interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** `suffix`: _bucket, _sum, _count of a histogram's series */
  samples: Array<{ labels: Record<string, string | number>; value: number; suffix?: string }>;
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** Events of a ring buffer: sent, suppressed by --rate-limit, lost (ring buffer full). */
export function eventsMetric(name: string, what: string, c: { events_sent: number; events_suppressed: number; events_lost: number }): Metric {
  return {
    name,
    help: `${what}: sent, suppressed by --rate-limit, lost (ring buffer full)`,
    type: 'counter',
    samples: [
      { labels: { outcome: 'sent' }, value: c.events_sent },
      { labels: { outcome: 'suppressed' }, value: c.events_suppressed },
      { labels: { outcome: 'lost' }, value: c.events_lost },
    ],
  };
}

export function render(metrics: Metric[]): string {
  const out: string[] = [];
  for (const m of metrics) {
    if (m.samples.length === 0) continue;
    out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    for (const s of m.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
        .join(',');
      out.push(`${m.name}${s.suffix ?? ''}${labels ? `{${labels}}` : ''} ${Number.isFinite(s.value) ? s.value : 'NaN'}`);
    }
  }
  return out.join('\n') + '\n';
}

export class MetricsEndpoint {
  private snapshot = '';
  private constructor(private readonly server: Server) {}

  static async start(listen: { host: string; port: number }, flag: string): Promise<MetricsEndpoint> {
    let ep: MetricsEndpoint | null = null;
    const server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(ep!.snapshot);
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
    ep = new MetricsEndpoint(server);
    return ep;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`;
  }

  set(metrics: Metric[]): void {
    this.snapshot = render(metrics);
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}
