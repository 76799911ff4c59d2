/**
 * The stack capability's structs: TypeScript mirror of bpf/include/stack.h.
 * test/unit/layout.test.ts checks every number here against the BTF of build/bpf/stack.bpf.o.
 */
import type { EnumLayouts, ObjectLayout, StructLayout } from '../../bpf/layout.js';

export const STACK_EVENT = {
  name: 'xt_stack_event',
  size: 112,
  fields: {
    ts_ns: 0, skb: 8, latency_ns: 16, saddr: 24, daddr: 40, seq: 56, ack: 60, len: 64, pid: 68, cpu: 72,
    drop_reason: 76, ifindex: 80, sport: 84, dport: 86, stage: 88, family: 89, tcp_flags: 90, pad: 91, comm: 92, pad2: 108,
  },
} as const satisfies StructLayout;

export const STACK_CONST = { XT_LAT_BUCKETS: 40 } as const;
export const XT_LAT_BUCKETS = STACK_CONST.XT_LAT_BUCKETS;

export const STAGE_VAL = {
  name: 'xt_stage_val',
  size: 24 + 8 * XT_LAT_BUCKETS,
  fields: { packets: 0, lat_count: 8, lat_sum_ns: 16, lat: 24 },
} as const satisfies StructLayout;

export const STACK_CONFIG = {
  name: 'xt_stack_config',
  size: 44,
  fields: { rate_limit: 0, emit: 4, net_filter: 5, port: 6, net: 8, mask: 24, netns_ino: 40 },
} as const satisfies StructLayout;

export const STACK_STRUCTS: readonly StructLayout[] = [STACK_EVENT, STAGE_VAL, STACK_CONFIG];

export const STAGE = {
  XT_STAGE_NETIF_RECEIVE: 0, XT_STAGE_IP_RCV_FINISH: 1, XT_STAGE_LOCAL_DELIVER: 2, XT_STAGE_TCP_DO_RCV: 3,
  XT_STAGE_TCP_QUEUE_RCV: 4, XT_STAGE_SOCK_READABLE: 5, XT_STAGE_APP_READ: 6, XT_STAGE_DROP: 7, XT_STAGE_COUNT: 8,
} as const;
export const STACK_STAT = { XT_SS_EV_SENT: 0, XT_SS_EV_SUPPRESSED: 1, XT_SS_EV_LOST: 2, XT_SS_MAX: 8 } as const;

export const STACK_ENUMS: EnumLayouts = {
  xt_stage: STAGE,
  xt_stack_stat: STACK_STAT,
  xt_stack_const: STACK_CONST,
};

/** bpf/stack.bpf.c's boundary, as test/unit/layout.test.ts checks it against the object's BTF. */
export const LAYOUT: ObjectLayout = { structs: STACK_STRUCTS, enums: STACK_ENUMS, config: STACK_CONFIG, configVar: 'xt_stack_cfg' };
