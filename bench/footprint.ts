/**
 * Memory and start-up, per configuration, rounds interleaved (medians with [min, max]):
 *   ready_ms       from spawning the process (through ip netns exec) to its ready file written (the file's
 *                  mtime): what `docker logs` shows as the time to "ready", hooks attached
 *   rss_idle_mb    VmRSS 2 s after ready, no traffic
 *   rss_flood_mb   VmHWM (the peak) after BENCH_FLOOD_SECONDS (30) of a 2000-flow UDP flood sent raw from
 *                  the peer namespace, every flow again and again (the flow table holds 2000 entries)
 * Configurations: a bare Node (node -e with one timer: the floor of any Node program), xtrace counting,
 * xtrace -w /dev/null (the capture ring at its default -B, filled by the flood), -w -B 2048 (tcpdump's
 * default buffer), stack -s. Env: BENCH_ROUNDS (3), BENCH_FLOOD_SECONDS (30), BENCH_CONFIGS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XtraceProcess, sleep } from '../test/lib/cli.js';
import { NetnsPair } from '../test/lib/netns.js';
import { ethHeader, ipv4Header, rawFlowsFor, udpHeader } from '../test/lib/peer.js';
import { median } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FLOOD_SECONDS = Number(process.env.BENCH_FLOOD_SECONDS ?? 30);
const FLOWS = 2000;

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) / 1024;
}

interface Running {
  pid: number;
  readyMs: number;
  stop: () => Promise<void>;
}

const xtrace = (args: string[]) => async (p: NetnsPair): Promise<Running> => {
  const t0 = Date.now();
  const x = new XtraceProcess([...args.map((a) => a.replace('IFACE', p.ifA)), '-o', 'json', '--interval', '1000'], { ns: p.nsA, discard: true });
  const ready = await x.ready(30_000);
  return { pid: ready.pid, readyMs: statSync(x.readyFile).mtimeMs - t0, stop: async () => void (await x.stop('SIGINT')) };
};

async function bareNode(p: NetnsPair): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'xt-node-'));
  const file = join(dir, 'ready');
  const t0 = Date.now();
  const c: ChildProcess = spawn('ip', ['netns', 'exec', p.nsA, process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(file)}, 'x'); setInterval(() => {}, 1000)`], { stdio: 'ignore' });
  for (let i = 0; i < 400; i++) {
    try {
      const readyMs = statSync(file).mtimeMs - t0;
      return {
        pid: c.pid!,
        readyMs,
        stop: async () => {
          c.kill();
          await new Promise((r) => c.on('close', r));
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch {
      await sleep(25);
    }
  }
  c.kill();
  throw new Error('node did not start');
}

const CONFIGS: Array<{ name: string; start: (p: NetnsPair) => Promise<Running> }> = [
  { name: 'node', start: bareNode },
  { name: 'xtrace', start: xtrace(['xdp', '-i', 'IFACE']) },
  { name: 'xtrace -w', start: xtrace(['xdp', '-i', 'IFACE', '-w', '/dev/null']) },
  { name: 'xtrace -w -B 2048', start: xtrace(['xdp', '-i', 'IFACE', '-w', '/dev/null', '-B', '2048']) },
  { name: 'stack -s', start: xtrace(['stack', '-s']) },
];

/** FLOWS distinct UDP flows (source ports 10000 and up), sent raw from B to A over and over for `seconds`. */
function flood(p: NetnsPair, seconds: number): ChildProcess {
  const frame = Buffer.concat([ethHeader(p.macA, p.macB, 0x0800), ipv4Header(p.ipB, p.ipA, 17, 8 + 18), udpHeader(1, 9, 18), Buffer.alloc(18)]);
  return rawFlowsFor(p.nsB, p.ifB, frame, 14 + 20, 10000, FLOWS, seconds);
}

const r1 = (x: number): number => Math.round(x * 10) / 10;
const spread = (xs: number[]): [number, number] => [r1(Math.min(...xs)), r1(Math.max(...xs))];

async function main(): Promise<void> {
  const only = process.env.BENCH_CONFIGS?.split(',');
  const configs = only ? CONFIGS.filter((c) => only.includes(c.name)) : CONFIGS;
  const p = new NetnsPair();
  const results = new Map<string, { ready: number[]; idle: number[]; flood: number[] }>();
  try {
    for (let round = 1; round <= ROUNDS; round++)
      for (const c of configs) {
        const run = await c.start(p);
        try {
          await sleep(2000);
          const idle = status(run.pid, 'VmRSS');
          const f = flood(p, FLOOD_SECONDS);
          await new Promise((r) => f.on('close', r));
          const peak = status(run.pid, 'VmHWM');
          const r = results.get(c.name) ?? { ready: [], idle: [], flood: [] };
          r.ready.push(run.readyMs);
          r.idle.push(idle);
          r.flood.push(peak);
          results.set(c.name, r);
          console.log(JSON.stringify({ type: 'bench', bench: 'footprint', round, config: c.name, ready_ms: Math.round(run.readyMs), rss_idle_mb: r1(idle), rss_flood_mb: r1(peak) }));
        } finally {
          await run.stop();
        }
      }
    for (const [name, r] of results)
      console.log(
        JSON.stringify({
          type: 'bench_summary',
          bench: 'footprint',
          config: name,
          rounds: r.ready.length,
          ready_ms: Math.round(median(r.ready)),
          ready_ms_spread: spread(r.ready).map(Math.round),
          rss_idle_mb: r1(median(r.idle)),
          rss_idle_spread: spread(r.idle),
          rss_flood_mb: r1(median(r.flood)),
          rss_flood_spread: spread(r.flood),
        }),
      );
  } finally {
    p.destroy();
  }
}

await main();
