/**
 * Cost per packet at fixed offered loads, not throughput (a veth's throughput measures its sender, and
 * moves 5-30% between rounds). Over a veth pair in namespaces, at each load, for each monitor on the
 * receiving end, rounds interleaved:
 *   own_ns     the monitor's own CPU (every thread's, /proc/PID/task/N/schedstat, ns) a received packet
 *   bpf_ns     the kernel run time of its programs (bpf_stats: run_time_ns) a received packet
 *   lost       what the monitor was handed and could not keep (xtrace: ring full; tcpdump: "dropped by kernel")
 * Loads: 64-byte UDP paced by iperf3 at 40 k and 200 k packets/s, and one TCP bulk stream (unpaced:
 * its packets/s is whatever the pair carries). Monitors: none, xtrace counting, xtrace -w /dev/null,
 * xtrace -p --rate-limit 0 -o json (to /dev/null), tcpdump -w /dev/null, tcpdump -n -l (to /dev/null).
 * Each monitor first gets WARMUP_S of the same load, measured apart (`cold_own_ns_per_packet`: what the
 * first second costs, where V8 compiles the hot path on its worker threads, tens of ms once), then the
 * measured window: the steady cost a long capture pays per packet, which the goals are judged on.
 * Medians over the rounds with [min, max]. Env: BENCH_ROUNDS (5), BENCH_SECONDS (4), BENCH_CONFIGS.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { XtraceProcess } from '../test/lib/cli.js';
import { NetnsPair } from '../test/lib/netns.js';
import { median } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const WARMUP_S = 1;

/** CPU time of every thread of a process, ns (schedstat: time on a CPU). */
function threadsNs(pid: number): number {
  let n = 0;
  for (const t of readdirSync(`/proc/${pid}/task`))
    try {
      n += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* a thread that ended */
    }
  return n;
}

/** bpf_stats of programs: total run time (ns) and runs. */
function progStats(ids: number[]): { ns: number; runs: number } {
  let ns = 0;
  let runs = 0;
  for (const id of ids) {
    const j = JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '-j'], { encoding: 'utf8' })) as { run_time_ns?: number; run_cnt?: number };
    ns += j.run_time_ns ?? 0;
    runs += j.run_cnt ?? 0;
  }
  return { ns, runs };
}

interface Running {
  pid?: number;
  progs: number[];
  /** what it lost, read at stop */
  stop: () => Promise<number>;
}

interface Monitor {
  name: string;
  start: (p: NetnsPair) => Promise<Running>;
}

/**
 * xtrace on the receiving end. What it lost: from its summary, or with -p (stdout to /dev/null, so no
 * summary is kept) from its interval warnings ("N events ... suppressed, L lost"), every 200 ms.
 */
const xtrace = (extra: string[], lost: (s: Record<string, number>) => number) => async (p: NetnsPair): Promise<Running> => {
  const log = extra.includes('-p');
  const x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', log ? '200' : '60000', ...extra], { ns: p.nsA, discard: log });
  const ready = await x.ready();
  return {
    pid: ready.pid,
    progs: [...new Set(ready.links.map((l) => l.prog_id))],
    stop: async () => {
      const r = await x.stop('SIGINT');
      if (log) return [...r.stderr.matchAll(/suppressed, (\d+) lost/g)].reduce((a, m) => a + Number(m[1]), 0);
      const s = r.records.find((e) => e.type === 'summary') as Record<string, number> | undefined;
      return s ? lost(s) : NaN;
    },
  };
};

function tcpdump(args: string[]) {
  return async (p: NetnsPair): Promise<Running> => {
    const t: ChildProcess = spawn('ip', ['netns', 'exec', p.nsA, 'tcpdump', '-i', p.ifA, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      t.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening')) resolve();
      });
      t.on('close', (c) => reject(new Error(`tcpdump exited ${c}: ${err}`)));
    });
    // ip netns exec execs tcpdump: the pid is tcpdump's
    return {
      pid: t.pid,
      progs: [],
      stop: async () => {
        t.kill('SIGINT');
        await new Promise((r) => t.on('close', r));
        return Number(/(\d+) packets? dropped by kernel/.exec(err)?.[1] ?? NaN);
      },
    };
  };
}

const MONITORS: Monitor[] = [
  { name: 'none', start: async () => ({ progs: [], stop: async () => 0 }) },
  { name: 'xtrace', start: xtrace([], () => 0) },
  { name: 'xtrace -w', start: xtrace(['-w', '/dev/null'], (s) => s.capture_dropped) },
  { name: 'xtrace -p json', start: xtrace(['-p', '--rate-limit', '0'], () => NaN) },
  { name: 'tcpdump -w', start: tcpdump(['-w', '/dev/null', '-s', '0']) },
  { name: 'tcpdump text', start: tcpdump(['-n', '-l']) },
];

interface Load {
  name: string;
  /** iperf3 client arguments */
  args: string[];
}

const LOADS: Load[] = [
  { name: 'udp 40k pps', args: ['-u', '-l', '64', '-b', String(40_000 * 64 * 8)] },
  { name: 'udp 200k pps', args: ['-u', '-l', '64', '-b', String(200_000 * 64 * 8)] },
  { name: 'tcp bulk', args: [] },
];

function rxPackets(p: NetnsPair): number {
  return p.linkStats(p.nsA, p.ifA).rx_packets;
}

function load(p: NetnsPair, l: Load, seconds = SECONDS): { sent: number } {
  const srv = spawn('ip', ['netns', 'exec', p.nsA, 'iperf3', '-s', '-1', '-B', p.ipA], { stdio: 'ignore' });
  try {
    execFileSync('sleep', ['0.3']);
    const out = JSON.parse(p.exec(p.nsB, 'iperf3', '-c', p.ipA, '-t', String(seconds), '-J', ...l.args)) as { end: { sum?: { packets: number } } };
    return { sent: out.end.sum?.packets ?? NaN };
  } finally {
    srv.kill();
  }
}

const r0 = (x: number): number => Math.round(x);
const spread = (xs: number[]): [number, number] => [r0(Math.min(...xs)), r0(Math.max(...xs))];

async function main(): Promise<void> {
  const only = process.env.BENCH_CONFIGS?.split(',');
  const monitors = only ? MONITORS.filter((m) => m.name === 'none' || only.includes(m.name)) : MONITORS;
  const statsWas = execFileSync('sysctl', ['-n', 'kernel.bpf_stats_enabled'], { encoding: 'utf8' }).trim();
  execFileSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']);
  const p = new NetnsPair();
  const results = new Map<string, { own: number[]; cold: number[]; bpf: number[]; lost: number[]; pps: number[] }>();
  try {
    for (let round = 1; round <= ROUNDS; round++)
      for (const l of LOADS)
        for (const m of monitors) {
          const run = await m.start(p);
          const warm0 = run.pid ? threadsNs(run.pid) : 0;
          const wrx0 = rxPackets(p);
          load(p, l, WARMUP_S);
          const cold = run.pid ? (threadsNs(run.pid) - warm0) / (rxPackets(p) - wrx0) : 0;
          const cpu0 = run.pid ? threadsNs(run.pid) : 0;
          const bpf0 = progStats(run.progs);
          const rx0 = rxPackets(p);
          const t0 = performance.now();
          load(p, l);
          const secs = (performance.now() - t0) / 1000;
          const rx = rxPackets(p) - rx0;
          const cpu = run.pid ? threadsNs(run.pid) - cpu0 : 0;
          const bpf = progStats(run.progs);
          const lost = await run.stop();
          const row = { own_ns: cpu / rx, bpf_ns: (bpf.ns - bpf0.ns) / rx, lost, pps: rx / secs };
          const key = `${l.name}|${m.name}`;
          const r = results.get(key) ?? { own: [], cold: [], bpf: [], lost: [], pps: [] };
          r.own.push(row.own_ns);
          r.cold.push(cold);
          r.bpf.push(row.bpf_ns);
          r.lost.push(row.lost);
          r.pps.push(row.pps);
          results.set(key, r);
          console.log(JSON.stringify({ type: 'bench', bench: 'cost', round, load: l.name, monitor: m.name, packets: rx, pps: r0(row.pps), own_ns_per_packet: r0(row.own_ns), cold_own_ns_per_packet: r0(cold), bpf_ns_per_packet: r0(row.bpf_ns), lost }));
        }
    for (const [key, r] of results) {
      const [l, m] = key.split('|');
      console.log(
        JSON.stringify({
          type: 'bench_summary',
          bench: 'cost',
          load: l,
          monitor: m,
          rounds: r.own.length,
          own_ns_per_packet: r0(median(r.own)),
          own_ns_spread: spread(r.own),
          cold_own_ns_per_packet: r0(median(r.cold)),
          bpf_ns_per_packet: r0(median(r.bpf)),
          bpf_ns_spread: spread(r.bpf),
          // null: the monitor did not say what it lost in some round
          lost_max: r.lost.some((x) => Number.isNaN(x)) ? null : Math.max(...r.lost),
          pps_median: r0(median(r.pps)),
        }),
      );
    }
  } finally {
    p.destroy();
    execFileSync('sysctl', ['-qw', `kernel.bpf_stats_enabled=${statsWas}`]);
  }
}

await main();
