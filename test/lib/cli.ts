/** Runs the real xtrace CLI (optionally inside a namespace) and collects its JSON records. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, SLOWDOWN } from './env.js';

export type Rec = Record<string, unknown> & { type: string };

/** The ready file: the pid, and the kernel ids of every link the run attached. */
export interface ReadyInfo {
  pid: number;
  links: Array<{ kind: string; target: string; link_id: number; prog_id: number }>;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  records: Rec[];
}

export class XtraceProcess {
  readonly child: ChildProcess;
  private out = '';
  private err = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'xt-'));
  readonly readyFile = join(this.dir, 'ready');
  private readonly exited: Promise<RunResult>;

  /** `discard`: stdout goes to /dev/null (benchmarks), so no records are kept. */
  constructor(args: string[], opts: { ns?: string; env?: Record<string, string>; discard?: boolean } = {}) {
    const argv = [...(opts.ns ? ['netns', 'exec', opts.ns] : []), process.execPath, CLI, ...args, '--ready-file', this.readyFile];
    this.child = spawn(opts.ns ? 'ip' : argv.shift()!, opts.ns ? argv : argv, {
      env: { ...process.env, XTRACE_LOG_FORMAT: 'text', ...opts.env },
      stdio: ['ignore', opts.discard ? 'ignore' : 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        rmSync(this.dir, { recursive: true, force: true });
        resolve({ code, signal, stdout: this.out, stderr: this.err, records: parseRecords(this.out) });
      });
    });
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** The URL of --metrics-listen, from the log line that announces it. */
  metricsUrl(): string {
    const m = /metrics at (http:\/\/\S+)/.exec(this.err);
    if (!m) throw new Error(`no metrics URL in the log: ${this.err}`);
    return m[1]!;
  }

  /** Waits for the ready file and returns what it says; rejects with stderr if the process exits first. */
  async ready(timeoutMs = 20_000): Promise<ReadyInfo> {
    timeoutMs *= SLOWDOWN;
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (existsSync(this.readyFile)) {
        const text = readFileSync(this.readyFile, 'utf8');
        if (text.endsWith('\n')) return JSON.parse(text) as ReadyInfo;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        const r = await this.exited;
        throw new Error(`xtrace exited (${r.code ?? r.signal}) before ready: ${r.stderr.trim()}`);
      }
      await sleep(25);
    }
    throw new Error(`xtrace not ready after ${timeoutMs} ms: ${this.err.trim()}`);
  }

  /** Waits until stdout holds a record matching `pred`. */
  async waitFor(pred: (r: Rec) => boolean, timeoutMs = 10_000): Promise<Rec> {
    timeoutMs *= SLOWDOWN;
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const hit = parseRecords(this.out).find(pred);
      if (hit) return hit;
      await sleep(50);
    }
    throw new Error(`no matching record within ${timeoutMs} ms; stdout tail: ${this.out.slice(-500)}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<RunResult> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** For `finally`: make sure nothing outlives the test. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  wait(): Promise<RunResult> {
    return this.exited;
  }
}

export function parseRecords(s: string): Rec[] {
  return s
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Rec);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The last record of each flow key (the final report), keyed "iface dir proto src:sport>dst:dport", the proto of ICMP as icmp/TYPE. */
export function finalFlows(records: Rec[]): Map<string, Rec> {
  const m = new Map<string, Rec>();
  for (const r of records) {
    if (r.type !== 'flow') continue;
    const proto = r.icmp_type === undefined ? r.proto : `${r.proto}/${r.icmp_type}`;
    m.set(`${r.iface} ${r.dir} ${proto} ${r.src}:${r.sport}>${r.dst}:${r.dport}`, r);
  }
  return m;
}
