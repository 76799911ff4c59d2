/** The limit mode's records (`xtrace limit -o json`): events and per-interval stats, all `type: "limit"`. */

export type LimitEventName = 'map' | 'parse' | 'send' | 'drop' | 'learn' | 'fork' | 'exit';

/** One event, in the earlier tool's vocabulary. */
export interface LimitEventRecord {
  type: 'limit';
  ts: string;
  event: LimitEventName;
  pid: number;
  comm: string;
  direction: 'egress' | 'ingress';
  /** map: how the socket was tagged (sock_create, send, recv, learnt) */
  via?: string;
  /** parse, learn: the local address, port and protocol */
  ip?: string;
  port?: number;
  proto?: string;
  /** send, drop: the packet's IP bytes (one packet; a GSO packet counts as one) */
  bytes?: number;
  packets?: number;
  /** send, drop: a congestion signal went with it */
  congestion_signal?: boolean;
  /** fork: the new process, limited with its parent */
  child?: number;
}

/** One limited process or cgroup: counters since start, rates over the last interval. */
export interface LimitCounters {
  /** "pid" (a -p process and the children it forked) or "cgroup" */
  target: 'pid' | 'cgroup';
  pid?: number;
  comm?: string;
  cgroup?: string;
  direction: 'egress' | 'ingress';
  rate_target_bytes_per_s: number;
  rate_achieved_bytes_per_s: number;
  passed_bytes: number;
  passed_packets: number;
  dropped_bytes: number;
  dropped_packets: number;
  congestion_signals: number;
  /** ingress, TCP: the receiver's pure ACKs held back while the bucket was past its burst (its sender waits) */
  acks_held: number;
  /** false once the process (and every child it took along) has exited */
  alive: boolean;
}

export interface LimitStatsRecord extends LimitCounters {
  type: 'limit';
  ts: string;
  event: 'stats';
}

export interface LimitSummaryRecord {
  type: 'summary';
  mode: 'limit';
  ts: string;
  duration_s: number;
  hook: string;
  limits: LimitCounters[];
  sockets_tagged: number;
  /** TCP sockets paced at the rate (egress) or given a window clamp (ingress), and given back their own settings at exit */
  sockets_paced: number;
  sockets_restored: number;
  events_sent: number;
  events_suppressed: number;
  events_lost: number;
}
