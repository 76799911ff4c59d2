/** Records of the packet-counting modes: one flow tuple shared by flow, packet (and, later, stack) records. */
export type Dir = 'ingress' | 'egress';
/** 'ether': a packet-log line of a frame that is not IP (src/dst are then MAC addresses) */
export type ProtoName = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'roce_v1' | 'roce_v2' | 'ether' | number;

/** Where a packet was seen and what it carried: the key of a flow and of a packet-log line. */
export interface FlowTuple {
  iface: string;
  dir: Dir;
  proto: ProtoName;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** VLAN id of the outer tag (absent when untagged) */
  vlan?: number;
  /** ICMP and ICMPv6: type and code (absent for fragments, whose header is elsewhere) */
  icmp_type?: number;
  icmp_code?: number;
}

export interface FlowRecord extends FlowTuple {
  type: 'flow';
  ts: string;
  packets: number;
  bytes: number;
  /** packets per second over the last interval (in a summary: over the whole run) */
  pps_rate: number;
  /** bits per second over the last interval (in a summary: over the whole run) */
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

export interface PacketRecord extends FlowTuple {
  type: 'packet';
  ts: string;
  /** length of what the hook saw: one L2 frame, or at TC a GSO packet of `segs` wire frames */
  len: number;
  /** wire frames this packet stands for: 1, or the segments of a GSO packet seen at TC */
  segs: number;
  tcp_flags?: string;
  roce_opcode?: string;
  roce_qp?: number;
  /** proto "ether" only: the EtherType after any VLAN tags, `0x0806` (below 0x0600, an 802.3 length) */
  ethertype?: string;
}

/** Counters kept per interface (in `ifaces` of stats and summary records). */
export interface IfaceCounters {
  rx_packets: number;
  rx_bytes: number;
  tx_packets: number;
  tx_bytes: number;
  non_ip_packets: number;
  fragments: number;
  truncated: number;
  /** packets the --filter expression passed (0 without one) */
  filter_passed: number;
  /** packets written to the -w capture, and those its ring had no room for */
  captured: number;
  capture_dropped: number;
}

/** The packet counters of every interface together, and the flow table's and packet log's. */
export interface Counters extends IfaceCounters {
  flows: number;
  flows_created: number;
  /** never decreases (a Prometheus counter) */
  flows_evicted: number;
  flow_insert_failed: number;
  events_sent: number;
  /** over --rate-limit, suppressed in the kernel */
  events_suppressed: number;
  /** ring buffer full: the kernel could not deliver them */
  events_lost: number;
  /** the same packet counters, per interface */
  ifaces: Record<string, IfaceCounters>;
}

export interface StatsRecord extends Counters {
  type: 'stats';
  ts: string;
}

export interface SummaryRecord extends Counters {
  type: 'summary';
  /** every mode's summary names its mode (added with the mode session; the others had it) */
  mode: 'xdp';
  ts: string;
  duration_s: number;
  interfaces: string[];
  attached: string[];
  /** interfaces deleted while xtrace ran (their hooks went with them) */
  vanished: string[];
  /** bytes of packet-log events still in the ring buffer when xtrace stopped reading at exit */
  events_unread_bytes?: number;
}

export type XdpRecord = FlowRecord | IpRecord | PacketRecord | StatsRecord | SummaryRecord;
