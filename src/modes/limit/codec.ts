/** Encoders and decoders for the structs of bpf/include/limit.h (offsets from ./layout.ts). */
import { sumPerCpu } from '../../bpf/maps.js';
import { formatAddr } from '../../options/index.js';
import { LEARN_KEY, LEARN_VAL, LIMIT_CONFIG, LIMIT_COUNTERS, LIMIT_EVENT } from './layout.js';

export interface LimitConfig {
  rate: number;
  burstNs: bigint;
  markNs: bigint;
  eventLimit: number;
  egress: boolean;
  congestionSignal: boolean;
  wholeCgroup: boolean;
  needLearn: boolean;
  quiet: boolean;
  /** TCP: pace limited sockets (egress), clamp their window (ingress), through the socket iterator */
  pace?: boolean;
}

export function encodeLimitConfig(c: LimitConfig): Buffer {
  const f = LIMIT_CONFIG.fields;
  const b = Buffer.alloc(LIMIT_CONFIG.size);
  b.writeBigUInt64LE(BigInt(c.rate), f.rate);
  b.writeBigUInt64LE(c.burstNs, f.burst_ns);
  b.writeBigUInt64LE(c.markNs, f.mark_ns);
  b.writeUInt32LE(c.eventLimit, f.event_limit);
  b.writeUInt8(c.egress ? 1 : 0, f.egress);
  b.writeUInt8(c.congestionSignal ? 1 : 0, f.cn);
  b.writeUInt8(c.wholeCgroup ? 1 : 0, f.whole_cgroup);
  b.writeUInt8(c.needLearn ? 1 : 0, f.need_learn);
  b.writeUInt8(c.quiet ? 1 : 0, f.quiet);
  b.writeUInt8(c.pace ? 1 : 0, f.pace);
  return b;
}

export interface LimitEvent {
  tsNs: bigint;
  kind: number;
  tgid: number;
  bucket: number;
  bytes: number;
  child: number;
  port: number;
  proto: number;
  family: number;
  via: number;
  addr: string;
}

export function decodeLimitEvent(dv: DataView, off: number): LimitEvent {
  const f = LIMIT_EVENT.fields;
  const family = dv.getUint8(off + f.family);
  return {
    tsNs: dv.getBigUint64(off + f.ts_ns, true),
    kind: dv.getUint8(off + f.kind),
    tgid: dv.getUint32(off + f.tgid, true),
    bucket: dv.getUint32(off + f.bucket, true),
    bytes: dv.getUint32(off + f.bytes, true),
    child: dv.getUint32(off + f.child, true),
    port: dv.getUint16(off + f.port, true),
    proto: dv.getUint8(off + f.proto),
    family,
    via: dv.getUint8(off + f.via),
    addr: family ? formatAddr(new Uint8Array(dv.buffer, dv.byteOffset + off + f.addr, 16), family) : '',
  };
}


export function encodeLearnKey(addr: Buffer, port: number, proto: number): Buffer {
  const b = Buffer.alloc(LEARN_KEY.size);
  addr.copy(b, LEARN_KEY.fields.addr);
  b.writeUInt16LE(port, LEARN_KEY.fields.port);
  b.writeUInt8(proto, LEARN_KEY.fields.proto);
  return b;
}

export function encodeLearnVal(tgid: number, bucket: number): Buffer {
  const b = Buffer.alloc(LEARN_VAL.size);
  b.writeUInt32LE(tgid, LEARN_VAL.fields.tgid);
  b.writeUInt32LE(bucket, LEARN_VAL.fields.bucket);
  return b;
}

export interface BucketCounters {
  passBytes: number;
  passPackets: number;
  dropBytes: number;
  dropPackets: number;
  cn: number;
  acksHeld: number;
}

/** Sums one bucket's per-CPU counters. */
export function sumCounters(values: Buffer): BucketCounters {
  const f = LIMIT_COUNTERS.fields;
  const [passBytes, passPackets, dropBytes, dropPackets, cn, acksHeld] = sumPerCpu(values, 0, LIMIT_COUNTERS.size, [f.pass_bytes, f.pass_packets, f.drop_bytes, f.drop_packets, f.cn, f.acks_held]).map(Number) as [number, number, number, number, number, number];
  return { passBytes, passPackets, dropBytes, dropPackets, cn, acksHeld };
}
