/** stack-mode counters as Prometheus metrics: packets per stage, drops by reason, latency histograms. */
import type { StackCounters } from '../records/index.js';
import { type Metric, eventsMetric } from './metric.js';

/**
 * The exported buckets: every second power of two of ns from 2^10 (1.02 us) to 2^32 (4.29 s), edges of
 * the kernel's log2 buckets (so each count is exact), 12 a stage instead of the kernel's 40: a stage's
 * latency is microseconds to seconds.
 */
export const LATENCY_EDGES_NS: readonly number[] = Array.from({ length: 12 }, (_, i) => 2 ** (10 + 2 * i));

export function stackMetrics(c: StackCounters): Metric[] {
  const latency: Metric = { name: 'xtrace_stack_latency_seconds', help: 'Time from the first stage that saw a packet to this stage (measured in the kernel in log2 buckets; exported at every fourth)', type: 'histogram', samples: [] };
  for (const s of c.stages) {
    if (s.hook === null || s.stage === 'netif_receive_skb') continue;
    for (const edge of LATENCY_EDGES_NS) {
      // the kernel's bucket "below_ns" holds [below_ns / 2, below_ns): all below the edge are those with below_ns <= edge
      const cum = s.latency_hist.filter((b) => b.below_ns <= edge).reduce((n, b) => n + b.count, 0);
      latency.samples.push({ suffix: '_bucket', labels: { stage: s.stage, le: String(edge / 1e9) }, value: cum });
    }
    latency.samples.push({ suffix: '_bucket', labels: { stage: s.stage, le: '+Inf' }, value: s.latency_count });
    latency.samples.push({ suffix: '_sum', labels: { stage: s.stage }, value: s.latency_sum_ns / 1e9 });
    latency.samples.push({ suffix: '_count', labels: { stage: s.stage }, value: s.latency_count });
  }
  return [
    {
      name: 'xtrace_stack_packets_total',
      help: 'TCP packets seen at each receive-path stage (after the -i/-p filters)',
      type: 'counter',
      samples: c.stages.filter((s) => s.hook !== null).map((s) => ({ labels: { stage: s.stage, hook: s.hook! }, value: s.packets })),
    },
    { name: 'xtrace_stack_drops_total', help: 'TCP packets dropped on the way, by the kernel drop reason (a socket teardown is not counted here)', type: 'counter', samples: Object.entries(c.drops).map(([reason, v]) => ({ labels: { reason }, value: v })) },
    { name: 'xtrace_stack_teardown_total', help: 'TCP skbs freed at a socket teardown (QUEUE_PURGE, SOCKET_CLOSE, TCP_CLOSE), by reason: not drops', type: 'counter', samples: Object.entries(c.teardown).map(([reason, v]) => ({ labels: { reason }, value: v })) },
    latency,
    eventsMetric('xtrace_stack_events_total', 'Per-packet events', c),
  ];
}
