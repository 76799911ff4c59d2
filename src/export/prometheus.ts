/** Prometheus text exposition (format 0.0.4) over HTTP: GET /metrics. Snapshots are set by the mode each interval. */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XtError } from '../errors.js';

export interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Array<{ labels: Record<string, string | number>; value: number }>;
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function render(metrics: Metric[]): string {
  const out: string[] = [];
  for (const m of metrics) {
    if (m.samples.length === 0) continue;
    out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    for (const s of m.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
        .join(',');
      out.push(`${m.name}${labels ? `{${labels}}` : ''} ${Number.isFinite(s.value) ? s.value : 'NaN'}`);
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
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new XtError(`${flag}: cannot listen on ${listen.host}:${listen.port}: ${e.code ?? e.message}`)));
      server.listen(listen.port, listen.host, resolve);
    });
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
