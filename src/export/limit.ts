/** limit-mode counters as Prometheus metrics: per limited process or cgroup, the target, passed and dropped traffic. */
import type { LimitCounters } from '../records/index.js';
import { type Metric, eventsMetric } from './metric.js';

export function limitMetrics(limits: LimitCounters[], ev: { events_sent: number; events_suppressed: number; events_lost: number }): Metric[] {
  const labels = (c: LimitCounters): Record<string, string | number> =>
    c.target === 'cgroup' ? { target: 'cgroup', cgroup: c.cgroup!, direction: c.direction } : { target: 'pid', pid: c.pid!, comm: c.comm!, direction: c.direction };
  const m = (name: string, help: string, type: 'counter' | 'gauge', v: (c: LimitCounters) => number): Metric => ({
    name,
    help,
    type,
    samples: limits.map((c) => ({ labels: labels(c), value: v(c) })),
  });
  return [
    m('xtrace_limit_target_bytes_per_second', 'The limit (IP bytes per second)', 'gauge', (c) => c.rate_target_bytes_per_s),
    m('xtrace_limit_achieved_bytes_per_second', 'Bytes per second that passed over the last interval', 'gauge', (c) => c.rate_achieved_bytes_per_s),
    m('xtrace_limit_passed_bytes_total', 'IP bytes that passed the bucket', 'counter', (c) => c.passed_bytes),
    m('xtrace_limit_passed_packets_total', 'Packets that passed the bucket (a GSO packet counts once)', 'counter', (c) => c.passed_packets),
    m('xtrace_limit_dropped_bytes_total', 'IP bytes dropped over the limit', 'counter', (c) => c.dropped_bytes),
    m('xtrace_limit_dropped_packets_total', 'Packets dropped over the limit', 'counter', (c) => c.dropped_packets),
    m('xtrace_limit_congestion_signals_total', 'Congestion signals sent (egress: NET_XMIT_CN to TCP; ingress: ECN CE marks)', 'counter', (c) => c.congestion_signals),
    m('xtrace_limit_acks_held_total', 'Ingress, TCP: pure ACKs of the receiver held back while the bucket was past its burst', 'counter', (c) => c.acks_held),
    eventsMetric('xtrace_limit_events_total', 'Limiter events', ev),
  ];
}
