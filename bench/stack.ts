/**
 * stack-mode overhead and event throughput. Configurations run interleaved, round after round, in one
 * invocation; the last lines give ratios to the baseline measured in the same run (median over rounds).
 *   baseline       no tracer
 *   stack-stats    xtrace stack --stats -p PORT (per-stage counts and latency histograms in the kernel)
 *   stack-events   xtrace stack -p PORT --rate-limit 0 -o json > /dev/null (an event per packet per stage)
 * Workloads over a veth pair: TCP bulk (iperf3, bits/s) and TCP request/response (64-byte messages,
 * round trips/s). Then the consumer alone: events decoded per second into records (and into JSON lines)
 * from a ring-sized buffer of real-layout events, and for stack-events the kernel's own count of events
 * sent, suppressed and lost against those read (nothing lost unreported).
 * Env: BENCH_ROUNDS (3), BENCH_SECONDS (4).
 */
import { execFileSync, spawn } from 'node:child_process';
import { XtraceProcess } from '../test/lib/cli.js';
import { NetnsPair } from '../test/lib/netns.js';
import { median } from './lib.js';
import { server, traffic } from '../test/lib/peer.js';
import { decodeStackEvent } from '../src/modes/stack/codec.js';
import { STACK_EVENT } from '../src/modes/stack/layout.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const BULK_PORT = 5201;
const RR_PORT = 5202;

interface Run {
  stop(): Promise<Record<string, unknown> | null>;
}

const stack = (extra: string[]) => async (p: NetnsPair): Promise<Run> => {
  const x = new XtraceProcess(['stack', '-o', 'json', '--interval', '1000', ...extra], { ns: p.nsA, discard: extra.includes('--rate-limit') });
  await x.ready();
  return { stop: async () => (await x.stop('SIGINT'), null) };
};

const CONFIGS: Array<{ name: string; start: (p: NetnsPair) => Promise<Run> }> = [
  { name: 'baseline', start: async () => ({ stop: async () => null }) },
  { name: 'stack-stats', start: stack(['--stats', '-i', '10.0.0.0/8']) },
  { name: 'stack-events', start: stack(['-i', '10.0.0.0/8', '--rate-limit', '0']) },
];

function bulk(p: NetnsPair): number {
  const srv = spawn('ip', ['netns', 'exec', p.nsA, 'iperf3', '-s', '-1', '-B', p.ipA, '-p', String(BULK_PORT)], { stdio: 'ignore' });
  try {
    execFileSync('sleep', ['0.3']);
    const out = JSON.parse(p.exec(p.nsB, 'iperf3', '-c', p.ipA, '-p', String(BULK_PORT), '-t', String(SECONDS), '-J')) as { end: { sum_received: { bits_per_second: number } } };
    return out.end.sum_received.bits_per_second;
  } finally {
    srv.kill();
  }
}

const rr = (p: NetnsPair): number => Number(traffic(p.nsB, 'tcp-rr', p.ipA, RR_PORT, SECONDS * 1000, 64)) / SECONDS;


/** The consumer alone: decode N events laid out as the kernel writes them, to records and to JSON lines. */
function decodeRate(n = 1_000_000): { decode_per_s: number; json_per_s: number } {
  const size = STACK_EVENT.size + 8; // record header + event, as in the ring
  const count = 65536;
  const buf = Buffer.alloc(size * count);
  const f = STACK_EVENT.fields;
  for (let i = 0; i < count; i++) {
    const o = i * size + 8;
    buf.writeBigUInt64LE(BigInt(1e15 + i * 1000), o + f.ts_ns);
    buf.writeBigUInt64LE(0xffff888012345000n + BigInt(i * 256), o + f.skb);
    buf.writeBigUInt64LE(BigInt(1000 + i), o + f.latency_ns);
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 0, (i >> 8) & 255, i & 255]).copy(buf, o + f.saddr);
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 0, 0, 2]).copy(buf, o + f.daddr);
    buf.writeUInt32LE(i * 1448, o + f.seq);
    buf.writeUInt32LE(7, o + f.ack);
    buf.writeUInt32LE(1448, o + f.len);
    buf.writeUInt16LE(40000 + (i % 1000), o + f.sport);
    buf.writeUInt16LE(5201, o + f.dport);
    buf.writeUInt8(i % 7, o + f.stage);
    buf.writeUInt8(4, o + f.family);
    buf.writeUInt8(0x18, o + f.tcp_flags);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  let sink = 0;
  let t = performance.now();
  for (let i = 0; i < n; i++) sink += decodeStackEvent(dv, (i % count) * size + 8).len;
  const decode = n / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < n; i++) {
    const e = decodeStackEvent(dv, (i % count) * size + 8);
    sink += JSON.stringify({ type: 'stack', stage: e.stage, src: e.src, sport: e.sport, dst: e.dst, dport: e.dport, seq: e.seq, ack: e.ack, len: e.len, tcp_flags: e.tcpFlags, cpu: e.cpu, skb: `0x${e.skb.toString(16)}` }).length;
  }
  const json = n / ((performance.now() - t) / 1000);
  if (sink < 0) console.log(sink);
  return { decode_per_s: Math.round(decode), json_per_s: Math.round(json) };
}

async function main(): Promise<void> {
  execFileSync('sh', ['-c', 'command -v iperf3'], { stdio: 'ignore' });
  const p = new NetnsPair();
  const echo = await server(p.nsA, 'tcp-echo', p.ipA, RR_PORT);
  const results = new Map(CONFIGS.map((c) => [c.name, { bulk: [] as number[], rr: [] as number[] }]));
  try {
    for (let round = 1; round <= ROUNDS; round++)
      for (const c of CONFIGS) {
        const h = await c.start(p);
        try {
          const b = bulk(p);
          const r = rr(p);
          results.get(c.name)!.bulk.push(b);
          results.get(c.name)!.rr.push(r);
          console.log(JSON.stringify({ type: 'bench', round, config: c.name, tcp_bps: Math.round(b), rr_per_s: Math.round(r) }));
        } finally {
          await h.stop();
        }
      }
    // the event path end to end: what the kernel sent/suppressed/lost against what was read
    const x = new XtraceProcess(['stack', '-o', 'json', '-i', '10.0.0.0/8', '--rate-limit', '0', '--interval', '1000'], { ns: p.nsA });
    await x.ready();
    const t0 = performance.now();
    bulk(p);
    const res = await x.stop('SIGINT');
    const secs = (performance.now() - t0) / 1000;
    const read = res.records.filter((r) => r.type === 'stack').length;
    const sum = res.records.find((r) => r.type === 'summary') as unknown as { events_sent: number; events_suppressed: number; events_lost: number; events_unread_bytes: number };
    console.log(JSON.stringify({ type: 'bench_events', events_read: read, events_per_s: Math.round(read / secs), events_sent: sum.events_sent, events_lost: sum.events_lost, events_unread_bytes: sum.events_unread_bytes, unreported_loss: sum.events_sent - read - Math.ceil(sum.events_unread_bytes / (STACK_EVENT.size + 8)) }));
  } finally {
    echo.proc.kill();
    p.destroy();
  }
  const base = results.get('baseline')!;
  for (const c of CONFIGS) {
    const r = results.get(c.name)!;
    console.log(JSON.stringify({ type: 'bench_ratio', config: c.name, tcp_bps_median: Math.round(median(r.bulk)), rr_per_s_median: Math.round(median(r.rr)), tcp_bps_ratio: Number((median(r.bulk) / median(base.bulk)).toFixed(3)), rr_ratio: Number((median(r.rr) / median(base.rr)).toFixed(3)) }));
  }
  console.log(JSON.stringify({ type: 'bench_decode', ...decodeRate() }));
}

main().catch((e: Error) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
