/** Typed records of the xdp mode; every renderer (table, json, text) works from these. */
export type Dir = 'ingress' | 'egress';
export type ProtoName = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'roce_v1' | 'roce_v2' | number;

export interface FlowRecord {
  type: 'flow';
  ts: string;
  iface: string;
  dir: Dir;
  proto: ProtoName;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  packets: number;
  bytes: number;
  /** packets per second over the last interval */
  pps_rate: number;
  /** bits per second over the last interval */
  bps_rate: number;
  /** when the flow was first and last seen (ISO-8601) */
  first_seen: string;
  last_seen: string;
  /** TCP flags seen over the flow's life, e.g. "SYN|ACK|FIN" (TCP only) */
  tcp_flags?: string;
  /** container owning the address (--containers), when one does */
  src_container?: string;
  dst_container?: string;
}

export interface IpRecord {
  type: 'ip';
  ts: string;
  ip: string;
  in_packets: number;
  in_bytes: number;
  out_packets: number;
  out_bytes: number;
  container?: string;
}

export interface PacketRecord {
  type: 'packet';
  ts: string;
  iface: string;
  dir: Dir;
  proto: ProtoName;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  len: number;
  tcp_flags?: string;
  roce_opcode?: string;
  roce_qp?: number;
}

export interface Counters {
  rx_packets: number;
  rx_bytes: number;
  tx_packets: number;
  tx_bytes: number;
  non_ip_packets: number;
  fragments: number;
  truncated: number;
  flows: number;
  flows_created: number;
  flows_evicted: number;
  flow_insert_failed: number;
  events_sent: number;
  /** over --rate-limit, suppressed in the kernel */
  events_suppressed: number;
  /** ring buffer full: the kernel could not deliver them */
  events_lost: number;
}

export interface StatsRecord extends Counters {
  type: 'stats';
  ts: string;
}

export interface SummaryRecord extends Counters {
  type: 'summary';
  ts: string;
  duration_s: number;
  interfaces: string[];
  attached: string[];
}

export type XdpRecord = FlowRecord | IpRecord | PacketRecord | StatsRecord | SummaryRecord;

const PROTO_NAMES: Record<number, ProtoName> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6' };
export const KIND_NAMES: Record<number, ProtoName | undefined> = { 1: 'roce_v1', 2: 'roce_v2' };

export function protoName(kind: number, proto: number): ProtoName {
  return KIND_NAMES[kind] ?? PROTO_NAMES[proto] ?? proto;
}

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
