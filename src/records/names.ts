/**
 * Names the records give kernel numbers, shared by every mode, renderer and exporter: IP protocols,
 * TCP flags, RoCE opcodes, EtherTypes, MAC addresses.
 */
import type { ProtoName } from './xdp.js';


/** IP protocol numbers as records name them */
export const IP_PROTO_NAMES: Readonly<Record<number, ProtoName>> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6' };

/** How table and text outputs show a record's protocol: `TCP`, `RoCEv2`, `IP/47` */
const PROTO_LABEL: Readonly<Record<string, string>> = { tcp: 'TCP', udp: 'UDP', icmp: 'ICMP', icmpv6: 'ICMPv6', roce_v1: 'RoCEv1', roce_v2: 'RoCEv2' };
export const protoLabel = (p: ProtoName): string => (typeof p === 'number' ? `IP/${p}` : PROTO_LABEL[p] ?? p);

/** An IP protocol number as the limit mode's lines name it: `TCP`, `UDP`, `ICMPv6`, or the number */
export const ipProtoLabel = (proto: number): string => {
  const n = IP_PROTO_NAMES[proto];
  return n === undefined ? String(proto) : protoLabel(n);
};

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];
export function tcpFlagNames(bits: number): string {
  return TCP_FLAGS.filter((_, i) => bits & (1 << i)).join('|');
}

/** RoCE BTH opcode (transport bits + operation) as InfiniBand names it. */
const ROCE_TRANSPORT: Record<number, string> = { 0x00: 'RC', 0x20: 'UC', 0x40: 'RD', 0x60: 'UD', 0x80: 'CNP', 0xa0: 'XRC' };
const ROCE_OPS: Record<number, string> = {
  0x00: 'SEND_FIRST', 0x01: 'SEND_MIDDLE', 0x02: 'SEND_LAST', 0x03: 'SEND_LAST_WITH_IMMEDIATE', 0x04: 'SEND_ONLY',
  0x05: 'SEND_ONLY_WITH_IMMEDIATE', 0x06: 'RDMA_WRITE_FIRST', 0x07: 'RDMA_WRITE_MIDDLE', 0x08: 'RDMA_WRITE_LAST',
  0x09: 'RDMA_WRITE_LAST_WITH_IMMEDIATE', 0x0a: 'RDMA_WRITE_ONLY', 0x0b: 'RDMA_WRITE_ONLY_WITH_IMMEDIATE',
  0x0c: 'RDMA_READ_REQUEST', 0x0d: 'RDMA_READ_RESPONSE_FIRST', 0x0e: 'RDMA_READ_RESPONSE_MIDDLE',
  0x0f: 'RDMA_READ_RESPONSE_LAST', 0x10: 'RDMA_READ_RESPONSE_ONLY', 0x11: 'ACKNOWLEDGE', 0x12: 'ATOMIC_ACKNOWLEDGE',
  0x13: 'COMPARE_SWAP', 0x14: 'FETCH_ADD', 0x16: 'SEND_LAST_WITH_INVALIDATE', 0x17: 'SEND_ONLY_WITH_INVALIDATE',
};

export function roceOpcodeName(op: number): string {
  if (op === 0x81) return 'CNP';
  const t = ROCE_TRANSPORT[op & 0xe0] ?? `T${(op & 0xe0).toString(16)}`;
  const o = ROCE_OPS[op & 0x1f];
  return o ? `${t}_${o}` : `${t}_OP_0x${(op & 0x1f).toString(16).padStart(2, '0')}`;
}

/** A frame that is not IP: its EtherType as tcpdump users know it, `0x88b5` for one without a name. */
const ETHERTYPES: Record<number, string> = {
  0x0800: 'IPv4', 0x0806: 'ARP', 0x8035: 'RARP', 0x86dd: 'IPv6', 0x8100: '802.1Q', 0x88a8: '802.1ad', 0x8847: 'MPLS', 0x8848: 'MPLS-mcast',
  0x8863: 'PPPoE-D', 0x8864: 'PPPoE-S', 0x88cc: 'LLDP', 0x888e: 'EAPOL', 0x88f7: 'PTP', 0x8809: 'slow', 0x8915: 'RoCEv1', 0x22f0: 'AVTP', 0x9000: 'loopback',
};
export const etherTypeHex = (t: number): string => `0x${t.toString(16).padStart(4, '0')}`;
/** below 0x600 the field is an 802.3 frame's length, not a type */
export const etherTypeName = (t: number): string => (t < 0x600 ? '802.3' : ETHERTYPES[t] ?? `ether ${etherTypeHex(t)}`);

/** aa:bb:cc:dd:ee:ff from the first six bytes */
export function formatMac(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + b[i]!.toString(16).padStart(2, '0');
  return s;
}

/**
 * What a net device's driver statistic (`ethtool -S`) is to a rail: pause frames (by direction, and
 * priority 0-7 or "global"), time paused (microseconds, mlx5's *_pause_duration), other pause
 * statistics, discards (mlx5's rx_discards_phy, rx_out_of_buffer, per-priority discards; other
 * drivers' drop and discard counters), or none of these (null).
 */
export type EthtoolKind =
  | { kind: 'pause'; direction: 'rx' | 'tx'; priority: string }
  | { kind: 'pause_us'; direction: 'rx' | 'tx'; priority: string }
  | { kind: 'pause_other' }
  | { kind: 'discard' }
  | null;

export function ethtoolKind(stat: string): EthtoolKind {
  let m = /^(rx|tx)_prio([0-7])_pause$/.exec(stat);
  if (m) return { kind: 'pause', direction: m[1] as 'rx' | 'tx', priority: m[2]! };
  m = /^(rx|tx)_(?:pause_ctrl_phy|global_pause)$/.exec(stat);
  if (m) return { kind: 'pause', direction: m[1] as 'rx' | 'tx', priority: 'global' };
  m = /^(rx|tx)_prio([0-7])_pause_duration$/.exec(stat);
  if (m) return { kind: 'pause_us', direction: m[1] as 'rx' | 'tx', priority: m[2]! };
  if (/^(rx|tx)_global_pause_duration$/.test(stat)) return { kind: 'pause_us', direction: stat.slice(0, 2) as 'rx' | 'tx', priority: 'global' };
  if (/discard|drop|out_of_buffer|no_buf|missed|buffer_passed_thres/i.test(stat)) return { kind: 'discard' };
  if (/pause|pfc|xon|xoff/i.test(stat)) return { kind: 'pause_other' };
  return null;
}
