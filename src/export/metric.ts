/**
 * A mode's records as metrics, before any exporter: the shape every mode builds (src/export/<mode>.ts)
 * and the shared families. No prom-client here: a run that exports nothing never loads it.
 */
export interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** `suffix`: _bucket, _sum, _count of a histogram's series */
  samples: Array<{ labels: Record<string, string | number>; value: number; suffix?: string }>;
}

/** One sample as a push sends it: the series name with its suffix, and its labels. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Events of a ring buffer: sent, suppressed by --rate-limit, lost (ring buffer full). */
export function eventsMetric(name: string, what: string, c: { events_sent: number; events_suppressed: number; events_lost: number }): Metric {
  return {
    name,
    help: `${what}: sent, suppressed by --rate-limit, lost (ring buffer full)`,
    type: 'counter',
    samples: [
      { labels: { outcome: 'sent' }, value: c.events_sent },
      { labels: { outcome: 'suppressed' }, value: c.events_suppressed },
      { labels: { outcome: 'lost' }, value: c.events_lost },
    ],
  };
}

/** How a mode's hook slots were served: which hook, and each candidate the kernel refused on the way. */
export function hookMetrics(choices: ReadonlyArray<{ slot: string; serves: string | null; tried: ReadonlyArray<{ hook: string; outcome: string }> }>): Metric[] {
  return [
    {
      name: 'xtrace_hook_info',
      help: 'The hook serving each slot (hook="" when none does). Value is always 1.',
      type: 'gauge',
      samples: choices.map((c) => ({ labels: { slot: c.slot, hook: c.serves ?? '' }, value: 1 })),
    },
    {
      name: 'xtrace_hook_attach_failures_total',
      help: 'Hooks the kernel refused (at load or attach) before one served the slot',
      type: 'counter',
      samples: choices.flatMap((c) => c.tried.filter((t) => t.outcome === 'refused').map((t) => ({ labels: { slot: c.slot, hook: t.hook }, value: 1 }))),
    },
  ];
}

