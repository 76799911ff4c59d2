/**
 * The limit mode's hooks as data: enforcement (cgroup_skb or netfilter), socket tagging at creation
 * and at first send/receive, and process fork/exit. The programs are in bpf/limit.bpf.c;
 * src/bpf/hooks.ts keeps, per slot, the first candidate the kernel serves.
 */
import type { HookCandidate, HookPart, HookSlot } from '../../bpf/hooks.js';

export interface SlotPlan {
  hook: 'auto' | 'cgroup' | 'netfilter';
  egress: boolean;
  /** the cgroup the cgroup_skb program goes on: the v2 root for -p, the cgroup for --cgroup; null: none (why in cgroupMissing) */
  enforceDir: string | null;
  cgroupMissing?: string;
  /** the network namespaces netfilter hooks go in (the -p processes'): /proc/PID/ns/net, or null for xtrace's own */
  netns?: ReadonlyArray<string | null>;
  /** -p: tag sockets and follow processes (the cgroup v2 root for the sock hooks; null: none mounted) */
  pids: { root: string | null; children: boolean } | null;
  /** TCP pacing (egress) or window clamps (ingress) through the socket iterator */
  pace?: boolean;
}

const fns = (kind: 'fentry' | 'kprobe', dir: 'send' | 'recv'): HookCandidate => ({
  kind,
  parts: [
    { prog: `tag_tcp_${dir}_${kind}`, target: `tcp_${dir}msg` },
    { prog: `tag_udp_${dir}_${kind}`, target: `udp_${dir}msg` },
    { prog: `tag_udp6_${dir}_${kind}`, target: `udpv6_${dir}msg`, optional: true }, // IPv6 may be a module
  ],
});

export function limitSlots(p: SlotPlan): HookSlot[] {
  const cgroup: HookCandidate = {
    kind: 'cgroup',
    parts: [
      { prog: p.egress ? 'lim_cg_egress' : 'lim_cg_ingress', target: `${p.egress ? 'inet_egress' : 'inet_ingress'}@${p.enforceDir ?? ''}` },
      // ingress, TCP: the receiver's ACKs held back while the bucket is past its burst
      ...(p.egress || !p.pace ? [] : [{ prog: 'lim_cg_ackgate', target: `inet_egress@${p.enforceDir ?? ''}` }]),
    ],
    ...(p.enforceDir === null ? { unavailable: p.cgroupMissing ?? 'no cgroup v2 hierarchy' } : {}),
  };
  const nfHook = p.egress ? 'local_out' : 'local_in';
  const nfProg = p.egress ? 'lim_nf_out' : 'lim_nf_in';
  // netfilter hooks belong to a network namespace: one pair in each the limited processes are in
  const nf: HookCandidate = {
    kind: 'netfilter',
    parts: (p.netns ?? [null]).flatMap((ns): HookPart[] => {
      const at = ns ? `@${ns}` : '';
      return [{ prog: nfProg, target: `ipv4/${nfHook}${at}` }, { prog: nfProg, target: `ipv6/${nfHook}${at}`, optional: true }];
    }),
  };
  const slots: HookSlot[] = [{ name: 'enforce', candidates: p.hook === 'cgroup' ? [cgroup] : p.hook === 'netfilter' ? [nf] : [cgroup, nf] }];
  if (p.pace)
    slots.push({ name: 'pace', candidates: [{ kind: 'iter', parts: [{ prog: 'lim_pace', target: 'tcp' }, { prog: 'lim_unpace', target: 'tcp' }] }] });
  if (!p.pids) return slots;
  if (p.pids.root)
    slots.push({
      name: 'sock_create',
      candidates: [
        {
          kind: 'cgroup',
          parts: [
            { prog: 'lim_sock_create', target: `sock_create@${p.pids.root}` },
            { prog: 'lim_sock_release', target: `sock_release@${p.pids.root}`, optional: true }, // 5.9+
          ],
        },
      ],
    });
  slots.push(
    {
      name: 'first_send',
      candidates: [fns('fentry', 'send'), fns('kprobe', 'send'), { kind: 'tp_btf', parts: [{ prog: 'tag_send_tp_btf', target: 'sock_send_length' }] }, { kind: 'tracepoint', parts: [{ prog: 'tag_send_tp', target: 'sock/sock_send_length' }] }],
    },
    {
      name: 'first_recv',
      candidates: [fns('fentry', 'recv'), fns('kprobe', 'recv'), { kind: 'tp_btf', parts: [{ prog: 'tag_recv_tp_btf', target: 'sock_recv_length' }] }, { kind: 'tracepoint', parts: [{ prog: 'tag_recv_tp', target: 'sock/sock_recv_length' }] }],
    },
    {
      name: 'process_exit',
      candidates: [{ kind: 'tp_btf', parts: [{ prog: 'exit_tp_btf', target: 'sched_process_exit' }] }, { kind: 'tracepoint', parts: [{ prog: 'exit_tp', target: 'sched/sched_process_exit' }] }],
    },
  );
  if (p.pids.children)
    slots.push({
      name: 'process_fork',
      candidates: [{ kind: 'tp_btf', parts: [{ prog: 'fork_tp_btf', target: 'sched_process_fork' }] }, { kind: 'tracepoint', parts: [{ prog: 'fork_tp', target: 'sched/sched_process_fork' }] }],
    });
  return slots;
}
