/** stack-mode counters as Prometheus metrics: packets per stage, drops by reason, latency histograms. */
import type { StackCounters } from '../records/index.js';
import { type Metric, eventsMetric } from './prometheus.js';

export function stackMetrics(c: StackCounters): Metric[] {
  const latency: Metric = { name: 'xtrace_stack_latency_seconds', help: 'Time from the first stage that saw a packet to this stage (log2 buckets, measured in the kernel)', type: 'histogram', samples: [] };
  for (const s of c.stages) {
    if (s.hook === null || s.stage === 'netif_receive_skb') continue;
    let cum = 0;
    const byBucket = new Map(s.latency_hist.map((b) => [b.below_ns, b.count]));
    for (let b = 0; b < 40; b++) {
      cum += byBucket.get(2 ** b) ?? 0;
      latency.samples.push({ suffix: '_bucket', labels: { stage: s.stage, le: String(2 ** b / 1e9) }, value: cum });
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
    { name: 'xtrace_stack_drops_total', help: 'TCP packets dropped, by the kernel drop reason', type: 'counter', samples: Object.entries(c.drops).map(([reason, v]) => ({ labels: { reason }, value: v })) },
    latency,
    eventsMetric('xtrace_stack_events_total', 'Per-packet events', c),
  ];
}
