/**
 * Real metric servers for the export tests (Debian's prometheus, victoria-metrics,
 * prometheus-node-exporter), each in a fresh data directory, on loopback: the host's, or a test
 * namespace's (xtrace in a namespace pushes to and is scraped by a server in the same namespace).
 * HTTP to a server in a namespace goes through a node child in that namespace.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SLOWDOWN } from './env.js';
import { sleep } from './cli.js';

/** A port nobody listens on now, on the host's loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A port for a server in a fresh namespace: nothing else listens there. */
let nsPort = 20000 + (process.pid % 1000) * 10;
export const namespacePort = (): number => nsPort++;

/** GET or POST from inside `ns` (or here): status and body. */
export async function http(url: string, opts: { ns?: string; method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  if (!opts.ns) {
    const r = await fetch(url, { method: opts.method ?? 'GET', body: opts.body, headers: opts.headers });
    return { status: r.status, body: await r.text() };
  }
  const script = `fetch(process.argv[1], JSON.parse(process.argv[2])).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { process.stderr.write(String(e.cause ?? e)); process.exit(1); })`;
  const r = spawnSync('ip', ['netns', 'exec', opts.ns, process.execPath, '-e', script, url, JSON.stringify({ method: opts.method ?? 'GET', body: opts.body, headers: opts.headers })], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) throw new Error(`GET ${url} in ${opts.ns}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number; body: string };
}

abstract class Server {
  protected proc: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'xt-srv-'));
  private log = '';

  constructor(
    readonly port: number,
    readonly ns?: string,
  ) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  protected abstract argv(): string[];
  protected abstract readyPath: string;

  async start(): Promise<this> {
    const argv = this.argv();
    const full = this.ns ? ['ip', 'netns', 'exec', this.ns, ...argv] : argv;
    this.proc = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4000)));
    this.proc.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4000)));
    const end = Date.now() + 30_000 * SLOWDOWN;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) throw new Error(`${argv[0]} exited ${this.proc.exitCode}: ${this.log}`);
      try {
        if ((await this.get(this.readyPath)).status === 200) return this;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`${argv[0]} not ready: ${this.log}`);
  }

  /** sent with every request of the test's own (a server started with credentials) */
  protected headers: Record<string, string> = {};

  get(path: string): Promise<{ status: number; body: string }> {
    return http(this.base + path, { ns: this.ns, headers: this.headers });
  }

  post(path: string, body = ''): Promise<{ status: number; body: string }> {
    return http(this.base + path, { ns: this.ns, method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  }

  /** Stops it (SIGTERM, then SIGKILL after 10 s); the data directory stays for a restart. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('close', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Prometheus extends Server {
  protected readyPath = '/-/ready';

  /** `scrape`: host:port targets scraped every second */
  constructor(port: number, ns?: string, scrape: string[] = []) {
    super(port, ns);
    const jobs = scrape.length ? `scrape_configs:\n  - job_name: scrape\n    scrape_interval: 1s\n    static_configs:\n      - targets: [${scrape.map((t) => `'${t}'`).join(', ')}]\n` : '';
    writeFileSync(join(this.dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n${jobs}`);
  }

  protected argv(): string[] {
    return [
      'prometheus',
      `--config.file=${join(this.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(this.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${this.port}`,
      '--web.enable-remote-write-receiver',
      '--log.level=warn',
    ];
  }

  /** An instant query's vector: labels and value of each series. */
  async query(q: string, time?: number): Promise<Array<{ metric: Record<string, string>; value: number }>> {
    const r = await this.get(`/api/v1/query?query=${encodeURIComponent(q)}${time !== undefined ? `&time=${time}` : ''}`);
    const j = JSON.parse(r.body) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (j.status !== 'success') throw new Error(`${q}: ${j.error}`);
    return j.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  }

  /** The raw samples of a range selector at `time`: [seconds, value] of each series. */
  async samples(selector: string, time?: number): Promise<Array<{ metric: Record<string, string>; values: Array<[number, number]> }>> {
    const r = await this.get(`/api/v1/query?query=${encodeURIComponent(selector)}${time !== undefined ? `&time=${time}` : ''}`);
    const j = JSON.parse(r.body) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
    if (j.status !== 'success') throw new Error(`${selector}: ${j.error}`);
    return j.data.result.map((s) => ({ metric: s.metric, values: s.values.map(([t, v]) => [t, Number(v)] as [number, number]) }));
  }
}

export class VictoriaMetrics extends Server {
  protected readyPath = '/health';

  /** `basicAuth`: every request needs these credentials */
  constructor(
    port: number,
    ns?: string,
    private readonly basicAuth?: { user: string; password: string },
  ) {
    super(port, ns);
    if (basicAuth) this.headers = { Authorization: `Basic ${Buffer.from(`${basicAuth.user}:${basicAuth.password}`).toString('base64')}` };
  }

  protected argv(): string[] {
    const auth = this.basicAuth ? [`-httpAuth.username=${this.basicAuth.user}`, `-httpAuth.password=${this.basicAuth.password}`] : [];
    return ['victoria-metrics', `-storageDataPath=${join(this.dir, 'data')}`, `-httpListenAddr=127.0.0.1:${this.port}`, '-loggerLevel=ERROR', ...auth];
  }

  /** Every stored sample of the series `match` selects (after a flush, so the last push is readable). */
  async export(match: string): Promise<Array<{ metric: Record<string, string>; values: number[]; timestamps: number[] }>> {
    await this.get('/internal/force_flush');
    const r = await this.get(`/api/v1/export?match[]=${encodeURIComponent(match)}`);
    return r.body
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { metric: Record<string, string>; values: number[]; timestamps: number[] });
  }
}

export class NodeExporter extends Server {
  protected readyPath = '/metrics';

  constructor(
    port: number,
    private readonly sysfs: string,
  ) {
    super(port);
  }

  protected argv(): string[] {
    return ['prometheus-node-exporter', `--path.sysfs=${this.sysfs}`, '--collector.disable-defaults', '--collector.infiniband', `--web.listen-address=127.0.0.1:${this.port}`];
  }
}

/** `name{a="b",...} value` lines as a map from the name with its labels sorted to the value. */
export function parseExposition(text: string, prefix = ''): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#') || !line.startsWith(prefix)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}
