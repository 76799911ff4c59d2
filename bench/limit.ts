/**
 * limit mode against tc's token bucket filter: TCP (iperf3) held to 10 and 100 Mbit/s over a veth pair,
 * configurations interleaved in one run:
 *   egress  xtrace        xtrace limit --cgroup CG -r RATE (TCP paced at the rate, congestion signal on)
 *   egress  xtrace-drop   the same with --no-congestion-signal (the earlier tool's drop-only behaviour)
 *   egress  tbf           tc qdisc tbf on the sender's veth (rate RATE, burst 256 KiB, latency 100 ms)
 *   ingress xtrace        xtrace limit --cgroup CG -d ingress (the receiver's window clamped, its ACKs held back)
 *   ingress xtrace-drop   the same with --no-congestion-signal (segments over the limit dropped)
 * The iperf3 client runs in a cgroup of its own (xtrace limits the cgroup, so the limit is in force
 * before the first byte); for ingress it receives (-R). Reported per run: achieved/target (iperf3's
 * received rate, the first 2 s omitted: the bucket's initial burst and slow start), the lowest and
 * highest one-second window against the target, retransmitted / sent segments (nstat in the sender's
 * namespace), and iperf3's mean RTT under load. Last line: the table.
 * Env: BENCH_SECONDS (10), BENCH_ROUNDS (1).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { XtraceProcess, sleep } from '../test/lib/cli.js';
import { cgroup2Root } from '../src/host/procs.js';
import { NetnsPair } from '../test/lib/netns.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const OMIT = 2;
const RATES_MBIT = [10, 100];
const CONFIGS = [
  ['egress', 'xtrace'],
  ['egress', 'xtrace-drop'],
  ['egress', 'tbf'],
  ['ingress', 'xtrace'],
  ['ingress', 'xtrace-drop'],
] as const;

interface Result {
  direction: string;
  config: string;
  target_mbit: number;
  achieved_mbit: number;
  ratio: number;
  /** the lowest and highest one-second window, as a share of the target */
  window_min: number;
  window_max: number;
  retrans_segs: number;
  out_segs: number;
  retrans_pct: number;
  mean_rtt_us: number;
}

interface Iperf {
  intervals: Array<{ sum: { bits_per_second: number; omitted?: boolean } }>;
  end: { sum_received: { bits_per_second: number }; streams: Array<{ sender: { mean_rtt?: number } }> };
  server_output_json?: Iperf;
}

async function runOne(p: NetnsPair, cg: string, direction: 'egress' | 'ingress', config: string, mbit: number): Promise<Result> {
  const port = 5400;
  const srv = spawn('ip', ['netns', 'exec', p.nsB, 'iperf3', '-s', '-1', '-J', '-B', p.ipB, '-p', String(port)], { stdio: 'ignore' });
  let x: XtraceProcess | null = null;
  const sender = direction === 'egress' ? p.nsA : p.nsB;
  try {
    if (config === 'tbf') p.exec(p.nsA, 'tc', 'qdisc', 'replace', 'dev', p.ifA, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '256k', 'latency', '100ms');
    else {
      x = new XtraceProcess(['limit', '--cgroup', cg, '-d', direction, '-r', `${mbit}mbit`, '-q', '-o', 'json', ...(config === 'xtrace-drop' ? ['--no-congestion-signal'] : [])], { discard: true });
      await x.ready();
    }
    await sleep(300);
    const before = p.nstat(sender, 'TcpOutSegs', 'TcpRetransSegs');
    const args = ['-c', p.ipB, '-p', String(port), '-t', String(SECONDS + OMIT), '-O', String(OMIT), '-i', '1', '-J', '--get-server-output', ...(direction === 'ingress' ? ['-R'] : [])];
    const out = execFileSync('sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec ip netns exec ${p.nsA} iperf3 ${args.join(' ')}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const after = p.nstat(sender, 'TcpOutSegs', 'TcpRetransSegs');
    const j = JSON.parse(out) as Iperf;
    const achieved = j.end.sum_received.bits_per_second / 1e6;
    // one-second windows at the receiver: the client's own (-R), else the server's
    const receiver = direction === 'ingress' ? j : j.server_output_json;
    const windows = (receiver?.intervals ?? []).filter((i) => !i.sum.omitted).slice(OMIT).map((i) => i.sum.bits_per_second / 1e6 / mbit);
    const outSegs = (after.TcpOutSegs ?? 0) - (before.TcpOutSegs ?? 0);
    const retrans = (after.TcpRetransSegs ?? 0) - (before.TcpRetransSegs ?? 0);
    const r3 = (v: number): number => Math.round(v * 1000) / 1000;
    return {
      direction,
      config,
      target_mbit: mbit,
      achieved_mbit: Math.round(achieved * 100) / 100,
      ratio: r3(achieved / mbit),
      window_min: r3(Math.min(...windows)),
      window_max: r3(Math.max(...windows)),
      retrans_segs: retrans,
      out_segs: outSegs,
      retrans_pct: Math.round((retrans / Math.max(1, outSegs)) * 10000) / 100,
      // the sender's: the client's, or with -R the server's
      mean_rtt_us: (direction === 'ingress' ? j.server_output_json : j)?.end.streams[0]?.sender.mean_rtt ?? 0,
    };
  } finally {
    if (config === 'tbf') p.exec(p.nsA, 'tc', 'qdisc', 'del', 'dev', p.ifA, 'root');
    await x?.stop('SIGINT');
    srv.kill();
  }
}

async function main(): Promise<void> {
  const p = new NetnsPair();
  const root = cgroup2Root();
  if (!root) throw new Error('bench/limit: needs a cgroup v2 hierarchy');
  const cg = `${root}/xtrace-bench-${process.pid}`;
  mkdirSync(cg);
  const results: Result[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++)
      for (const mbit of RATES_MBIT)
        for (const [dir, c] of CONFIGS) {
          const res = await runOne(p, cg, dir, c, mbit);
          results.push(res);
          console.log(JSON.stringify({ bench: 'limit', round: r, ...res }));
        }
    console.log(
      JSON.stringify({
        bench: 'limit',
        summary: results.map((x) => `${x.direction} ${x.config}@${x.target_mbit}mbit: ${x.ratio} of target (1 s windows ${x.window_min}-${x.window_max}), ${x.retrans_pct}% retransmitted, rtt ${x.mean_rtt_us} us`),
      }),
    );
  } finally {
    p.destroy();
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(cg);
        break;
      } catch {
        await sleep(100);
      }
    }
  }
}

await main();
