/**
 * xdp-mode overhead over a veth pair in namespaces. Configurations run interleaved, round after
 * round, in one invocation; each prints JSON lines, and the last lines give ratios to the baseline
 * measured in the same run (median over rounds).
 *   baseline       no monitor
 *   xdp-pass       a do-nothing native XDP program: what having XDP on a veth costs by itself
 *   tc-pass        a do-nothing TC program on ingress and egress: what the TC hooks cost by themselves
 *   xtrace-xdp     xtrace xdp --ingress-hook xdp (native XDP ingress, TC egress), counting only
 *   xtrace         xtrace xdp as a user runs it (on veth: TC ingress and egress), counting only
 *   xtrace-log     xtrace xdp -p (packet log, default --rate-limit 10000)
 *   xtrace-log-all xtrace xdp -p --rate-limit 0 (one ring-buffer event per packet)
 *   xtrace-capture xtrace xdp -w /dev/null (every packet copied into the capture ring and written as pcapng)
 *   xtrace-filter-none  xtrace xdp --filter 'udp port 1' (a tcpdump expression that matches nothing: its cost)
 *   tcpdump        tcpdump -w /dev/null on the receiving end
 *   tcpdump-text   tcpdump -n -l (text) to /dev/null
 * Ratios are given against `baseline`, `xdp-pass` and `tc-pass` (the last two isolate xtrace's own work per hook).
 * Workloads: UDP with 64-byte payloads (received packets/s at the server) and TCP bulk (bits/s).
 * Env: BENCH_ROUNDS (3), BENCH_SECONDS (4), BENCH_CONFIGS (comma-separated subset; baselines always run).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { XtraceProcess } from '../test/lib/cli.js';
import { NetnsPair } from '../test/lib/netns.js';
import { cpuNs, median } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);

interface Config {
  name: string;
  /** `pid`: the monitoring process, whose CPU time per received UDP packet is reported */
  start: (p: NetnsPair) => Promise<{ stop: () => Promise<void>; pid?: number }>;
}

const xtrace = (extra: string[]) => async (p: NetnsPair) => {
  const x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '1000', ...extra], { ns: p.nsA, discard: true });
  const { pid } = await x.ready();
  return { stop: async () => void (await x.stop()), pid };
};

const PASS_OBJ = fileURLToPath(new URL('../../build/bench/pass.bpf.o', import.meta.url));

/** A do-nothing XDP program in the given mode (iproute2 attaches it; removed on stop). */
const xdpPass = (mode: 'xdpdrv' | 'xdpgeneric') => async (p: NetnsPair) => {
  p.exec(p.nsA, 'ip', 'link', 'set', 'dev', p.ifA, mode, 'obj', PASS_OBJ, 'sec', 'xdp');
  return { stop: async () => void p.exec(p.nsA, 'ip', 'link', 'set', 'dev', p.ifA, mode, 'off') };
};

/** A do-nothing TC program on ingress and egress (classic clsact; removed with the qdisc on stop). */
const tcPass = async (p: NetnsPair) => {
  p.exec(p.nsA, 'tc', 'qdisc', 'add', 'dev', p.ifA, 'clsact');
  for (const dir of ['ingress', 'egress']) p.exec(p.nsA, 'tc', 'filter', 'add', 'dev', p.ifA, dir, 'bpf', 'da', 'obj', PASS_OBJ, 'sec', 'tc');
  return { stop: async () => void p.exec(p.nsA, 'tc', 'qdisc', 'del', 'dev', p.ifA, 'clsact') };
};

/** tcpdump on the receiving end, its output to /dev/null. */
function tcpdump(args: string[]) {
  return async (p: NetnsPair) => {
    const t: ChildProcess = spawn('ip', ['netns', 'exec', p.nsA, 'tcpdump', '-i', p.ifA, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      t.stderr!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
      t.on('close', (c) => reject(new Error(`tcpdump exited ${c}`)));
    });
    return { stop: async () => void (t.kill('SIGTERM'), await new Promise((r) => t.on('close', r))), pid: t.pid };
  };
}

const CONFIGS: Config[] = [
  { name: 'baseline', start: async () => ({ stop: async () => undefined }) },
  { name: 'xdp-pass', start: xdpPass('xdpdrv') },
  { name: 'tc-pass', start: tcPass },
  { name: 'xtrace-xdp', start: xtrace(['--ingress-hook', 'xdp']) },
  { name: 'xtrace', start: xtrace([]) },
  { name: 'xtrace-log', start: xtrace(['-p']) },
  { name: 'xtrace-log-all', start: xtrace(['-p', '--rate-limit', '0']) },
  { name: 'xtrace-capture', start: xtrace(['-w', '/dev/null']) },
  { name: 'xtrace-filter-none', start: xtrace(['--filter', 'udp port 1']) },
  { name: 'tcpdump', start: tcpdump(['-w', '/dev/null', '-s', '0']) },
  { name: 'tcpdump-text', start: tcpdump(['-n', '-l']) },
];

function iperf(p: NetnsPair, udp: boolean): number {
  const srv = spawn('ip', ['netns', 'exec', p.nsA, 'iperf3', '-s', '-1', '-B', p.ipA], { stdio: 'ignore' });
  try {
    execFileSync('sleep', ['0.3']);
    const args = ['-c', p.ipA, '-t', String(SECONDS), '-J', ...(udp ? ['-u', '-l', '64', '-b', '0'] : [])];
    const out = JSON.parse(p.exec(p.nsB, 'iperf3', ...args)) as {
      end: { sum?: { packets: number; lost_packets: number; seconds: number }; sum_received?: { bits_per_second: number } };
    };
    if (udp) {
      const s = out.end.sum!;
      return (s.packets - s.lost_packets) / s.seconds;
    }
    return out.end.sum_received!.bits_per_second;
  } finally {
    srv.kill();
  }
}


async function main(): Promise<void> {
  for (const tool of ['iperf3', 'tcpdump'])
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`bench needs ${tool} (apt-get install ${tool})`);
    }
  const only = process.env.BENCH_CONFIGS?.split(',');
  const configs = only ? CONFIGS.filter((c) => ['baseline', 'xdp-pass', 'tc-pass'].includes(c.name) || only.includes(c.name)) : CONFIGS;
  const p = new NetnsPair();
  const results = new Map<string, { udp_pps: number[]; tcp_bps: number[]; cpu_ns: number[] }>(CONFIGS.map((c) => [c.name, { udp_pps: [], tcp_bps: [], cpu_ns: [] }]));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const c of configs) {
        const h = await c.start(p);
        try {
          const cpu0 = h.pid ? cpuNs(h.pid) : 0;
          const udp = iperf(p, true);
          // the monitor's CPU time per packet received (ip netns exec execs it: the pid is the monitor's)
          const cpuPerPkt = h.pid ? (cpuNs(h.pid) - cpu0) / (udp * SECONDS) : undefined;
          const tcp = iperf(p, false);
          results.get(c.name)!.udp_pps.push(udp);
          results.get(c.name)!.tcp_bps.push(tcp);
          if (cpuPerPkt !== undefined) results.get(c.name)!.cpu_ns.push(cpuPerPkt);
          console.log(JSON.stringify({ type: 'bench', round, config: c.name, udp_pps: Math.round(udp), tcp_bps: Math.round(tcp), ...(cpuPerPkt !== undefined ? { udp_cpu_ns_per_packet: Math.round(cpuPerPkt) } : {}) }));
        } finally {
          await h.stop();
        }
      }
    }
  } finally {
    p.destroy();
  }
  const base = results.get('baseline')!;
  const pass = results.get('xdp-pass')!;
  const tcp = results.get('tc-pass')!;
  const ratio = (a: number[], b: number[]): number => Number((median(a) / median(b)).toFixed(3));
  for (const c of configs) {
    const r = results.get(c.name)!;
    console.log(
      JSON.stringify({
        type: 'bench_ratio',
        config: c.name,
        udp_pps_median: Math.round(median(r.udp_pps)),
        tcp_bps_median: Math.round(median(r.tcp_bps)),
        udp_pps_ratio: ratio(r.udp_pps, base.udp_pps),
        tcp_bps_ratio: ratio(r.tcp_bps, base.tcp_bps),
        udp_pps_ratio_vs_xdp_pass: ratio(r.udp_pps, pass.udp_pps),
        tcp_bps_ratio_vs_xdp_pass: ratio(r.tcp_bps, pass.tcp_bps),
        udp_pps_ratio_vs_tc_pass: ratio(r.udp_pps, tcp.udp_pps),
        tcp_bps_ratio_vs_tc_pass: ratio(r.tcp_bps, tcp.tcp_bps),
        ...(r.cpu_ns.length ? { udp_cpu_ns_per_packet: Math.round(median(r.cpu_ns)) } : {}),
      }),
    );
  }
}

main().catch((e: Error) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
