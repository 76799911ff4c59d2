/** Encoders and decoders for the structs of bpf/include/stack.h (offsets from ./layout.ts). */
import { sumPerCpu, u64Words } from '../../bpf/maps.js';
import { type Net, formatAddr } from '../../options/index.js';
import { maskAddr } from '../../options/ip.js';
import type { LatencyBucket } from '../../records/index.js';
import { tcpFlagNames } from '../../records/index.js';
import { STACK_CONFIG, STACK_EVENT, STAGE_VAL, XT_LAT_BUCKETS } from './layout.js';

export interface StackConfig {
  rateLimit: number;
  /** false with --stats: count only */
  emit: boolean;
  net?: Net;
  port?: number;
  /** --netns: only this network namespace's packets and sockets (its inode) */
  netnsIno?: number;
}

export function encodeStackConfig(c: StackConfig): Buffer {
  const f = STACK_CONFIG.fields;
  const b = Buffer.alloc(STACK_CONFIG.size);
  b.writeUInt32LE(c.rateLimit, f.rate_limit);
  b.writeUInt8(c.emit ? 1 : 0, f.emit);
  b.writeUInt16LE(c.port ?? 0, f.port);
  b.writeUInt32LE(c.netnsIno ?? 0, f.netns_ino);
  if (c.net) {
    b.writeUInt8(1, f.net_filter);
    c.net.addr.copy(b, f.net);
    maskAddr(Buffer.alloc(16, 0xff), c.net.prefix).copy(b, f.mask);
  }
  return b;
}

export interface StackEvent {
  tsNs: bigint;
  skb: bigint;
  latencyNs: number;
  src: string;
  dst: string;
  seq: number;
  ack: number;
  len: number;
  pid: number;
  cpu: number;
  dropReason: number;
  ifindex: number;
  sport: number;
  dport: number;
  stage: number;
  family: 4 | 6;
  tcpFlags: string;
  comm: string;
}

const F = STACK_EVENT.fields;

function cString(bytes: Uint8Array, start: number, max: number): string {
  let end = start;
  while (end < start + max && bytes[end] !== 0) end++;
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}

export function decodeStackEvent(dv: DataView, off: number): StackEvent {
  const family = dv.getUint8(off + F.family) === 6 ? 6 : 4;
  const bytes = new Uint8Array(dv.buffer, dv.byteOffset + off, STACK_EVENT.size);
  const pid = dv.getUint32(off + F.pid, true);
  return {
    tsNs: dv.getBigUint64(off + F.ts_ns, true),
    skb: dv.getBigUint64(off + F.skb, true),
    latencyNs: Number(dv.getBigUint64(off + F.latency_ns, true)),
    src: formatAddr(bytes.subarray(F.saddr, F.saddr + 16), family),
    dst: formatAddr(bytes.subarray(F.daddr, F.daddr + 16), family),
    seq: dv.getUint32(off + F.seq, true),
    ack: dv.getUint32(off + F.ack, true),
    len: dv.getUint32(off + F.len, true),
    pid,
    cpu: dv.getUint32(off + F.cpu, true),
    dropReason: dv.getUint32(off + F.drop_reason, true),
    ifindex: dv.getUint32(off + F.ifindex, true),
    sport: dv.getUint16(off + F.sport, true),
    dport: dv.getUint16(off + F.dport, true),
    stage: dv.getUint8(off + F.stage),
    family,
    tcpFlags: tcpFlagNames(dv.getUint8(off + F.tcp_flags)),
    comm: pid ? cString(bytes, F.comm, 16) : '',
  };
}

export interface StageTotals {
  packets: number;
  latCount: number;
  latSumNs: number;
  hist: LatencyBucket[];
}

/** One stage's per-CPU values (possibleCpus() blocks of xt_stage_val), summed. */
export function sumStageValues(values: Buffer): StageTotals {
  const f = STAGE_VAL.fields;
  const [packets, latCount, latSum, ...buckets] = sumPerCpu(values, 0, STAGE_VAL.size, [f.packets, f.lat_count, f.lat_sum_ns, ...u64Words(f.lat, XT_LAT_BUCKETS)]) as [bigint, bigint, bigint, ...bigint[]];
  const hist: LatencyBucket[] = [];
  buckets.forEach((n, b) => {
    if (n > 0n) hist.push({ below_ns: 2 ** b, count: Number(n) });
  });
  return { packets: Number(packets), latCount: Number(latCount), latSumNs: Number(latSum), hist };
}
