/**
 * limit mode against tc's token bucket filter: TCP (iperf3) held to 10 and 100 Mbit/s over a veth pair,
 * configurations interleaved in one run:
 *   xtrace        xtrace limit --cgroup CG -r RATE (congestion signal on)
 *   xtrace-drop   the same with --no-congestion-signal (the earlier tool's drop-only behaviour)
 *   tbf           tc qdisc tbf on the sender's veth (rate RATE, burst 256 KiB, latency 100 ms)
 * The iperf3 client runs in a cgroup of its own (xtrace limits the cgroup, so the limit is in force
 * before the first byte). Reported per run: achieved/target (iperf3's received rate, the first 2 s
 * omitted: the bucket's initial burst and slow start), retransmitted segments / segments sent (nstat
 * in the sender's namespace), and iperf3's mean RTT under load. Last line: the table.
 * Env: BENCH_SECONDS (10), BENCH_ROUNDS (1).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { XtraceProcess, sleep } from '../test/lib/cli.js';
import { cgroup2Root } from '../src/modes/limit/procs.js';
import { NetnsPair } from '../test/lib/netns.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const OMIT = 2;
const RATES_MBIT = [10, 100];
const CONFIGS = ['xtrace', 'xtrace-drop', 'tbf'] as const;


interface Result {
  config: string;
  target_mbit: number;
  achieved_mbit: number;
  ratio: number;
  retrans_segs: number;
  out_segs: number;
  retrans_pct: number;
  mean_rtt_us: number;
}

async function runOne(p: NetnsPair, cg: string, config: (typeof CONFIGS)[number], mbit: number): Promise<Result> {
  const port = 5400;
  const srv = spawn('ip', ['netns', 'exec', p.nsB, 'iperf3', '-s', '-1', '-B', p.ipB, '-p', String(port)], { stdio: 'ignore' });
  let x: XtraceProcess | null = null;
  try {
    if (config === 'tbf') p.exec(p.nsA, 'tc', 'qdisc', 'replace', 'dev', p.ifA, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '256k', 'latency', '100ms');
    else {
      x = new XtraceProcess(['limit', '--cgroup', cg, '-r', `${mbit}mbit`, '-q', '-o', 'json', ...(config === 'xtrace-drop' ? ['--no-congestion-signal'] : [])], { discard: true });
      await x.ready();
    }
    await sleep(300);
    const before = p.nstat(p.nsA, 'TcpOutSegs', 'TcpRetransSegs');
    const out = execFileSync('sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec ip netns exec ${p.nsA} iperf3 -c ${p.ipB} -p ${port} -t ${SECONDS + OMIT} -O ${OMIT} -J`], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const after = p.nstat(p.nsA, 'TcpOutSegs', 'TcpRetransSegs');
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number }; streams: Array<{ sender: { mean_rtt: number } }> } };
    const achieved = j.end.sum_received.bits_per_second / 1e6;
    const outSegs = (after.TcpOutSegs ?? 0) - (before.TcpOutSegs ?? 0);
    const retrans = (after.TcpRetransSegs ?? 0) - (before.TcpRetransSegs ?? 0);
    return {
      config,
      target_mbit: mbit,
      achieved_mbit: Math.round(achieved * 100) / 100,
      ratio: Math.round((achieved / mbit) * 1000) / 1000,
      retrans_segs: retrans,
      out_segs: outSegs,
      retrans_pct: Math.round((retrans / Math.max(1, outSegs)) * 10000) / 100,
      mean_rtt_us: j.end.streams[0]?.sender.mean_rtt ?? 0,
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
        for (const c of CONFIGS) {
          const res = await runOne(p, cg, c, mbit);
          results.push(res);
          console.log(JSON.stringify({ bench: 'limit', round: r, ...res }));
        }
    console.log(JSON.stringify({ bench: 'limit', summary: results.map((x) => `${x.config}@${x.target_mbit}mbit: ${x.ratio} of target, ${x.retrans_pct}% retransmitted, rtt ${x.mean_rtt_us} us`) }));
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
