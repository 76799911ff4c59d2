/** What the limit mode needs of the machine (`xtrace probe`): its hooks are probed by attaching them, limiting nothing. */
import { type ProbeResult, probeMapType } from '../../bpf/probe.js';
import { findCgroup2 } from '../../host/procs.js';
import { type ModeNeeds, slotNeeds } from '../needs.js';

/** A cgroup v2 hierarchy: a directory with cgroup.controllers (an empty /sys/fs/cgroup is none). */
function probeCgroup2(): ProbeResult {
  const cg = findCgroup2();
  return cg.root ? { name: 'cgroup2', status: 'supported', detail: cg.root } : { name: 'cgroup2', status: 'missing', detail: cg.why };
}

export const LIMIT_NEEDS = (): ModeNeeds => ({
  bpf: true,
  needs: [
    { feature: 'map sk_storage', required: true, use: "a socket's owner, kept with the socket", probe: () => probeMapType('sk_storage') },
    { feature: 'map ringbuf', required: true, use: 'events', probe: () => probeMapType('ringbuf') },
    { feature: 'cgroup v2', required: false, use: 'cgroup_skb enforcement and socket tagging (netfilter serves otherwise, -p only)', probe: probeCgroup2 },
    ...slotNeeds(
      async () => {
        // no process is limited: every packet passes untouched while the programs are attached
        const m = await import('./index.js');
        const { encodeLimitConfig } = await import('./codec.js');
        const { limitSlots } = await import('./slots.js');
        const cg = findCgroup2();
        const config = encodeLimitConfig({ rate: 1, burstNs: 1n, markNs: 0n, eventLimit: 0, egress: true, congestionSignal: true, wholeCgroup: false, needLearn: true, quiet: true });
        return m.attachLimit(limitSlots({ hook: 'auto', egress: true, enforceDir: cg.root, cgroupMissing: cg.why, pids: { root: cg.root, children: true } }), config);
      },
      'hook',
      [
        { name: 'enforce', required: true, use: 'the token bucket (cgroup_skb, else netfilter)' },
        { name: 'sock_create', required: false, use: 'tag sockets at creation (-p)' },
        { name: 'first_send', required: false, use: 'tag sockets that existed before start at their first send (-p)' },
        { name: 'first_recv', required: false, use: 'the same at their first receive (-p)' },
        { name: 'process_exit', required: false, use: 'notice a limited process exit (a /proc check each interval serves otherwise)' },
        { name: 'process_fork', required: false, use: '--children' },
      ],
    ),
  ],
});
