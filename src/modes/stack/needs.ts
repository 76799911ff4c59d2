/** What the stack mode needs of the machine (`xtrace probe`): its stages are probed by attaching them. */
import { probeBtf, probeMapType } from '../../bpf/probe.js';
import { type ModeNeeds, slotNeeds } from '../needs.js';
import { STAGES } from './slots.js';

export const STACK_NEEDS = (): ModeNeeds => ({
  bpf: true,
  needs: [
    { feature: 'btf', required: true, use: "CO-RE: kernel structs read at the running kernel's offsets; drop reason names", probe: probeBtf },
    { feature: 'map ringbuf', required: true, use: 'per-packet events', probe: () => probeMapType('ringbuf') },
    { feature: 'map percpu_array', required: true, use: 'per-stage counters and latency histograms', probe: () => probeMapType('percpu_array') },
    ...slotNeeds(
      async () => {
        const m = await import('./index.js');
        const { encodeStackConfig } = await import('./codec.js');
        return m.attachStages(encodeStackConfig({ rateLimit: 0, emit: false }));
      },
      'stage',
      STAGES.map((s) => ({
        name: s.name,
        required: s.name === 'netif_receive_skb',
        use: s.name === 'kfree_skb' ? 'drops with reasons' : 'a receive-path stage (fentry, kprobe, tracepoint, netfilter: first served wins)',
      })),
      (kind) => (kind === 'netfilter' ? "xtrace's network namespace only" : 'every network namespace'),
    ),
  ],
});
