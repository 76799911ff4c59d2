/**
 * The receive-path stages of a TCP packet, in order, each with its hook candidates as data (preferred
 * first). The programs are in bpf/stack.bpf.c; src/bpf/hooks.ts picks the first the kernel serves.
 */
import type { HookCandidate, HookSlot } from '../../bpf/hooks.js';
import { STAGE } from './layout.js';

export interface Stage extends HookSlot {
  id: number;
  /** the kernel function shown for IPv4 (name) and IPv6 */
  v4: string;
  v6: string;
  /** what passing it means, for --help and the docs */
  means: string;
}

const both = (kind: 'fentry' | 'kprobe', v4prog: string, v4: string, v6prog: string, v6: string): HookCandidate => ({
  kind,
  parts: [{ prog: v4prog, target: v4 }, { prog: v6prog, target: v6, optional: true }],
});
const nf = (prog: string, hook: 'pre_routing' | 'local_in'): HookCandidate => ({
  kind: 'netfilter',
  parts: [{ prog, target: `ipv4/${hook}` }, { prog, target: `ipv6/${hook}`, optional: true }],
});

export const STAGES: readonly Stage[] = [
  {
    id: STAGE.XT_STAGE_NETIF_RECEIVE, name: 'netif_receive_skb', v4: 'netif_receive_skb', v6: 'netif_receive_skb',
    means: 'the packet left the driver/GRO and entered the stack',
    candidates: [
      { kind: 'fentry', parts: [{ prog: 'st_netif_fentry', target: '__netif_receive_skb_core' }] },
      { kind: 'kprobe', parts: [{ prog: 'st_netif_kprobe', target: '__netif_receive_skb_core' }] },
      { kind: 'tp_btf', parts: [{ prog: 'st_netif_tp_btf', target: 'netif_receive_skb' }] },
      { kind: 'tracepoint', parts: [{ prog: 'st_netif_tp', target: 'net/netif_receive_skb' }] },
    ],
  },
  {
    id: STAGE.XT_STAGE_IP_RCV_FINISH, name: 'ip_rcv_finish', v4: 'ip_rcv_finish', v6: 'ip6_rcv_finish',
    means: 'IP checks and PREROUTING passed; the route is looked up next',
    candidates: [
      both('fentry', 'st_rcv_finish_fentry', 'ip_rcv_finish', 'st_rcv6_finish_fentry', 'ip6_rcv_finish'),
      both('kprobe', 'st_rcv_finish_kprobe', 'ip_rcv_finish', 'st_rcv6_finish_kprobe', 'ip6_rcv_finish'),
      nf('st_rcv_finish_nf', 'pre_routing'),
    ],
  },
  {
    id: STAGE.XT_STAGE_LOCAL_DELIVER, name: 'ip_local_deliver', v4: 'ip_local_deliver', v6: 'ip6_input',
    means: 'routed to this host; INPUT rules come next (netfilter: INPUT passed)',
    candidates: [
      both('fentry', 'st_local_fentry', 'ip_local_deliver', 'st_local6_fentry', 'ip6_input'),
      both('kprobe', 'st_local_kprobe', 'ip_local_deliver', 'st_local6_kprobe', 'ip6_input'),
      nf('st_local_nf', 'local_in'),
    ],
  },
  {
    id: STAGE.XT_STAGE_TCP_DO_RCV, name: 'tcp_v4_do_rcv', v4: 'tcp_v4_do_rcv', v6: 'tcp_v6_do_rcv',
    means: 'TCP found the socket and processes the segment (tcp_probe: established connections only)',
    candidates: [
      both('fentry', 'st_do_rcv_fentry', 'tcp_v4_do_rcv', 'st_do_rcv6_fentry', 'tcp_v6_do_rcv'),
      both('kprobe', 'st_do_rcv_kprobe', 'tcp_v4_do_rcv', 'st_do_rcv6_kprobe', 'tcp_v6_do_rcv'),
      { kind: 'tp_btf', parts: [{ prog: 'st_do_rcv_tp_btf', target: 'tcp_probe' }] },
    ],
  },
  {
    id: STAGE.XT_STAGE_TCP_QUEUE_RCV, name: 'tcp_queue_rcv', v4: 'tcp_queue_rcv', v6: 'tcp_queue_rcv',
    means: 'in-order data queued on the socket (no tracepoint serves it)',
    candidates: [
      { kind: 'fentry', parts: [{ prog: 'st_queue_fentry', target: 'tcp_queue_rcv' }] },
      { kind: 'kprobe', parts: [{ prog: 'st_queue_kprobe', target: 'tcp_queue_rcv' }] },
    ],
  },
  {
    id: STAGE.XT_STAGE_SOCK_READABLE, name: 'sock_def_readable', v4: 'sock_def_readable', v6: 'sock_def_readable',
    means: 'the socket woke its reader (the packet: the one the socket last received)',
    candidates: [
      { kind: 'fentry', parts: [{ prog: 'st_readable_fentry', target: 'sock_def_readable' }] },
      { kind: 'kprobe', parts: [{ prog: 'st_readable_kprobe', target: 'sock_def_readable' }] },
      { kind: 'tp_btf', parts: [{ prog: 'st_readable_tp_btf', target: 'sk_data_ready' }] },
      { kind: 'tracepoint', parts: [{ prog: 'st_readable_tp', target: 'sock/sk_data_ready' }] },
    ],
  },
  {
    id: STAGE.XT_STAGE_APP_READ, name: 'app_read', v4: 'app_read', v6: 'app_read',
    means: 'the application read the data (LEN: bytes copied; PID/COMM: the reader)',
    candidates: [
      { kind: 'tp_btf', parts: [{ prog: 'st_read_tp_btf', target: 'skb_copy_datagram_iovec' }] },
      { kind: 'tracepoint', parts: [{ prog: 'st_read_tp', target: 'skb/skb_copy_datagram_iovec' }] },
      { kind: 'tp_btf', parts: [{ prog: 'st_read_len_tp_btf', target: 'sock_recv_length' }] },
    ],
  },
  {
    id: STAGE.XT_STAGE_DROP, name: 'kfree_skb', v4: 'kfree_skb', v6: 'kfree_skb',
    means: 'dropped, with the reason the kernel gives (enum skb_drop_reason)',
    candidates: [{ kind: 'tp_btf', parts: [{ prog: 'st_drop_tp_btf', target: 'kfree_skb' }] }],
  },
];

/** The kernel function a stage shows for a packet's family. */
export const stageFunction = (stage: number, family: number): string => {
  const s = STAGES[stage];
  return s ? (family === 6 ? s.v6 : s.v4) : `stage${stage}`;
};
