/** The stack mode's records (`xtrace stack -o json`). */

/** One packet at one stage of the receive path. */
export interface StackRecord {
  type: 'stack';
  ts: string;
  /** the kernel function of the stage for the packet's family (ip6_rcv_finish for IPv6, ...); app_read, kfree_skb */
  stage: string;
  /** the hook that serves it: "tp_btf:netif_receive_skb", "netfilter:ipv4/local_in+ipv6/local_in", ... */
  hook: string;
  family: 4 | 6;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  seq: number;
  ack: number;
  /** TCP payload bytes; at app_read, the bytes copied to the application */
  len: number;
  tcp_flags: string;
  cpu: number;
  /** the skb's kernel address (hex): the same packet at different stages has the same one */
  skb: string;
  /** since the first stage that saw this skb; absent when unknown */
  latency_ns?: number;
  /** the reading process (app_read) */
  pid?: number;
  comm?: string;
  /** the kernel's drop reason by name (kfree_skb) */
  drop_reason?: string;
  /** kfree_skb of a socket's own teardown (QUEUE_PURGE, SOCKET_CLOSE, TCP_CLOSE): not a network drop */
  teardown?: boolean;
}

export interface LatencyBucket {
  /** the bucket holds latencies below this many ns (and at least half of it) */
  below_ns: number;
  count: number;
}

export interface StageStats {
  stage: string;
  /** null: no hook of this kernel serves the stage */
  hook: string | null;
  /** whose packets the hook sees: "every network namespace", or one ("net:[4026532198] (--netns blue)", "net:[4026531840] (xtrace's)") */
  scope: string | null;
  packets: number;
  latency_count: number;
  latency_sum_ns: number;
  latency_hist: LatencyBucket[];
}

export interface StackCounters {
  stages: StageStats[];
  /** drops on the way, by reason name (the network's or the stack's refusals) */
  drops: Record<string, number>;
  /** skbs freed at a socket's teardown, by reason name (QUEUE_PURGE at every close of a socket with data still queued): not drops */
  teardown: Record<string, number>;
  events_sent: number;
  events_suppressed: number;
  events_lost: number;
}

/** Every interval with --stats: counters since start. */
export interface StackStatsRecord extends StackCounters {
  type: 'stack_stats';
  ts: string;
}

/** --debug-func: per stage, the hooks tried, which serves, why the others were refused. */
export interface StackHooksRecord {
  type: 'stack_hooks';
  ts: string;
  stages: Array<{ stage: string; serves: string | null; scope: string | null; tried: Array<{ hook: string; outcome: string; reason: string }> }>;
}

export interface StackSummaryRecord extends StackCounters {
  type: 'summary';
  mode: 'stack';
  ts: string;
  duration_s: number;
  events_unread_bytes: number;
}
