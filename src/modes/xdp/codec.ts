/** Encoders and decoders for the structs of bpf/include/flow.h (offsets from src/bpf/layout.ts). */
import { CONFIG, EVENT, FLOW_KEY, FLOW_VAL, IP_VAL, LPM_KEY, XT_ICMP_NONE, XT_MAX_IFACES } from './layout.js';
import { sumPerCpu } from '../../bpf/maps.js';
import { XT_CAP_MAX } from '../../capture/cbpf.js';
import { type Net, formatAddr } from '../../options/index.js';
import type { Dir } from '../../records/index.js';
import { IP_PROTO_NAMES, type ProtoName, etherTypeHex, formatMac, roceOpcodeName, tcpFlagNames } from '../../records/index.js';
import { KIND } from './layout.js';

const KIND_NAMES: Readonly<Record<number, ProtoName | undefined>> = { [KIND.XT_KIND_ROCE_V1]: 'roce_v1', [KIND.XT_KIND_ROCE_V2]: 'roce_v2', [KIND.XT_KIND_ETHER]: 'ether' };

/** A flow key's or event's protocol: what carried it (RoCE, a non-IP frame), else its IP protocol. */
export function protoName(kind: number, proto: number): ProtoName {
  return KIND_NAMES[kind] ?? IP_PROTO_NAMES[proto] ?? proto;
}

export interface KernelConfig {
  watchCount: number;
  rateLimit: number;
  log: boolean;
  /** the attached interfaces, in the order of their `stats` slots */
  ifindexes: number[];
  /** a --filter expression is spliced into the programs */
  filter?: boolean;
  /** -w: matching packets go to the packets ring, snaplen bytes each */
  capture?: boolean;
  snaplen?: number;
  /** bytes copied of each packet for the filter and the capture (XT_CAP_MAX when not given) */
  copyBytes?: number;
  /** -w: wake the reader when the packets ring's backlog crosses this many bytes */
  capWake?: number;
}

export function encodeConfig(c: KernelConfig): Buffer {
  const f = CONFIG.fields;
  const b = Buffer.alloc(CONFIG.size);
  b.writeUInt32LE(c.watchCount, f.watch_count);
  b.writeUInt32LE(c.rateLimit, f.rate_limit);
  b.writeUInt8(c.log ? 1 : 0, f.log_enabled);
  if (c.ifindexes.length > XT_MAX_IFACES) throw new Error(`at most ${XT_MAX_IFACES} interfaces`);
  c.ifindexes.forEach((ix, i) => b.writeUInt32LE(ix, f.ifindex + 4 * i));
  b.writeUInt8(c.filter ? 1 : 0, f.filter);
  b.writeUInt8(c.capture ? 1 : 0, f.capture);
  b.writeUInt32LE(c.snaplen ?? 0, f.snaplen);
  b.writeUInt32LE(c.copyBytes ?? XT_CAP_MAX, f.copy_bytes);
  b.writeUInt32LE(c.capWake ?? 0, f.cap_wake);
  return b;
}

export function encodeLpmKey(n: Net): Buffer {
  const b = Buffer.alloc(LPM_KEY.size);
  b.writeUInt32LE(n.prefix, LPM_KEY.fields.prefixlen);
  n.addr.copy(b, LPM_KEY.fields.addr);
  return b;
}

export interface FlowKey {
  src: string;
  dst: string;
  ifindex: number;
  sport: number;
  dport: number;
  proto: number;
  dir: Dir;
  kind: number;
  family: number;
  /** VLAN id of the outer tag, 0 when untagged */
  vlan: number;
  /** ICMP/ICMPv6 type and code, when the header was seen */
  icmp?: { type: number; code: number };
}

/** ICMP type and code, for ICMP and ICMPv6 packets whose header was seen. */
function icmpOf(kind: number, proto: number, type: number, code: number): { type: number; code: number } | undefined {
  return kind === 0 && (proto === 1 || proto === 58) && type !== XT_ICMP_NONE ? { type, code } : undefined;
}

export function decodeFlowKey(b: Buffer, off: number): FlowKey {
  const f = FLOW_KEY.fields;
  const family = b.readUInt8(off + f.family);
  const k: FlowKey = {
    src: formatAddr(b.subarray(off + f.src, off + f.src + 16), family),
    dst: formatAddr(b.subarray(off + f.dst, off + f.dst + 16), family),
    ifindex: b.readUInt32LE(off + f.ifindex),
    sport: b.readUInt16LE(off + f.sport),
    dport: b.readUInt16LE(off + f.dport),
    proto: b.readUInt8(off + f.proto),
    dir: b.readUInt8(off + f.dir) === 0 ? 'ingress' : 'egress',
    kind: b.readUInt8(off + f.kind),
    family,
    vlan: b.readUInt16LE(off + f.vlan),
  };
  const icmp = icmpOf(k.kind, k.proto, b.readUInt8(off + f.icmp_type), b.readUInt8(off + f.icmp_code));
  if (icmp) k.icmp = icmp;
  return k;
}

export interface FlowTotals {
  packets: bigint;
  bytes: bigint;
  firstNs: bigint;
  lastNs: bigint;
  tcpFlags: number;
}

/** Sums one flow's per-CPU values (each FLOW_VAL.size rounded to 8, `cpus` of them). */
export function sumFlowValues(b: Buffer, off: number, cpus: number): FlowTotals {
  const f = FLOW_VAL.fields;
  const step = Math.ceil(FLOW_VAL.size / 8) * 8;
  const t: FlowTotals = { packets: 0n, bytes: 0n, firstNs: 0n, lastNs: 0n, tcpFlags: 0 };
  for (let cpu = 0; cpu < cpus; cpu++) {
    const o = off + cpu * step;
    t.packets += b.readBigUInt64LE(o + f.packets);
    t.bytes += b.readBigUInt64LE(o + f.bytes);
    const first = b.readBigUInt64LE(o + f.first_ns);
    const last = b.readBigUInt64LE(o + f.last_ns);
    if (first && (!t.firstNs || first < t.firstNs)) t.firstNs = first;
    if (last > t.lastNs) t.lastNs = last;
    t.tcpFlags |= b.readUInt8(o + f.tcp_flags);
  }
  return t;
}

export function sumIpValues(b: Buffer): { in_packets: number; in_bytes: number; out_packets: number; out_bytes: number } {
  const f = IP_VAL.fields;
  const [inP, inB, outP, outB] = sumPerCpu(b, 0, IP_VAL.size, [f.in_packets, f.in_bytes, f.out_packets, f.out_bytes]).map(Number);
  return { in_packets: inP!, in_bytes: inB!, out_packets: outP!, out_bytes: outB! };
}

export interface DecodedEvent {
  tsNs: bigint;
  ifindex: number;
  dir: Dir;
  proto: ReturnType<typeof protoName>;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  len: number;
  /** wire frames the event stands for (> 1: a GSO packet seen at TC) */
  segs: number;
  vlan: number;
  icmp?: { type: number; code: number };
  tcpFlags?: string;
  roceOpcode?: string;
  roceQp?: number;
  /** a frame that is not IP: its EtherType (src and dst are its MAC addresses) */
  ethertype?: string;
}

export function decodeEvent(dv: DataView, off: number): DecodedEvent {
  const f = EVENT.fields;
  const family = dv.getUint8(off + f.family);
  const kind = dv.getUint8(off + f.kind);
  const proto = dv.getUint8(off + f.proto);
  const bytes = new Uint8Array(dv.buffer, dv.byteOffset + off, EVENT.size);
  const ether = kind === KIND.XT_KIND_ETHER;
  const e: DecodedEvent = {
    tsNs: dv.getBigUint64(off + f.ts_ns, true),
    ifindex: dv.getUint32(off + f.ifindex, true),
    dir: dv.getUint8(off + f.dir) === 0 ? 'ingress' : 'egress',
    proto: protoName(kind, proto),
    src: ether ? formatMac(bytes.subarray(f.src)) : formatAddr(bytes.subarray(f.src, f.src + 16), family),
    dst: ether ? formatMac(bytes.subarray(f.dst)) : formatAddr(bytes.subarray(f.dst, f.dst + 16), family),
    sport: dv.getUint16(off + f.sport, true),
    dport: dv.getUint16(off + f.dport, true),
    len: dv.getUint32(off + f.len, true),
    segs: dv.getUint16(off + f.segs, true) || 1,
    vlan: dv.getUint16(off + f.vlan, true),
  };
  const icmp = icmpOf(kind, proto, dv.getUint8(off + f.icmp_type), dv.getUint8(off + f.icmp_code));
  if (icmp) e.icmp = icmp;
  if (kind === 0 && proto === 6) e.tcpFlags = tcpFlagNames(dv.getUint8(off + f.tcp_flags));
  if (kind === KIND.XT_KIND_ROCE_V1 || kind === KIND.XT_KIND_ROCE_V2) {
    e.roceOpcode = roceOpcodeName(dv.getUint8(off + f.roce_opcode));
    e.roceQp = dv.getUint32(off + f.roce_qp, true);
  }
  if (ether) e.ethertype = etherTypeHex(dv.getUint16(off + f.ethertype, true));
  return e;
}
