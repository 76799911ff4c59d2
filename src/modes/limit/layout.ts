/**
 * The limit capability's structs: TypeScript mirror of bpf/include/limit.h.
 * test/unit/layout.test.ts checks every number here against the BTF of build/bpf/limit.bpf.o.
 */
import type { EnumLayouts, ObjectLayout, StructLayout } from '../../bpf/layout.js';

export const LIMIT_EVENT = {
  name: 'xt_limit_event',
  size: 48,
  fields: { ts_ns: 0, addr: 8, tgid: 24, bucket: 28, bytes: 32, child: 36, port: 40, kind: 42, proto: 43, family: 44, via: 45, pad: 46 },
} as const satisfies StructLayout;

export const LIMIT_COUNTERS = {
  name: 'xt_limit_counters',
  size: 48,
  fields: { pass_bytes: 0, pass_packets: 8, drop_bytes: 16, drop_packets: 24, cn: 32, acks_held: 40 },
} as const satisfies StructLayout;

export const LEARN_KEY = { name: 'xt_learn_key', size: 20, fields: { addr: 0, port: 16, proto: 18, pad: 19 } } as const satisfies StructLayout;
export const LEARN_VAL = { name: 'xt_learn_val', size: 8, fields: { tgid: 0, bucket: 4 } } as const satisfies StructLayout;
export const BUCKET = { name: 'xt_bucket', size: 16, fields: { lock: 0, pad: 4, tat_ns: 8 } } as const satisfies StructLayout;

export const LIMIT_CONFIG = {
  name: 'xt_limit_config',
  size: 40,
  fields: { rate: 0, burst_ns: 8, mark_ns: 16, event_limit: 24, egress: 28, cn: 29, whole_cgroup: 30, need_learn: 31, quiet: 32, pace: 33, pad: 34 },
} as const satisfies StructLayout;

export const PACED = { name: 'xt_paced', size: 16, fields: { old_max_pacing_rate: 0, old_window_clamp: 8, state: 12, pad: 13 } } as const satisfies StructLayout;

export const LIMIT_STRUCTS: readonly StructLayout[] = [LIMIT_EVENT, LIMIT_COUNTERS, LEARN_KEY, LEARN_VAL, BUCKET, LIMIT_CONFIG, PACED];

export const LIMIT_EV = { XT_LEV_MAP: 0, XT_LEV_PARSE: 1, XT_LEV_SEND: 2, XT_LEV_DROP: 3, XT_LEV_LEARN: 4, XT_LEV_FORK: 5, XT_LEV_EXIT: 6 } as const;
export const LIMIT_VIA = { XT_VIA_SOCK_CREATE: 0, XT_VIA_SEND: 1, XT_VIA_RECV: 2, XT_VIA_LEARNT: 3 } as const;
export const LIMIT_STAT = { XT_LS_EV_SENT: 0, XT_LS_EV_SUPPRESSED: 1, XT_LS_EV_LOST: 2, XT_LS_TAGGED: 3, XT_LS_PACE_ASKED: 4, XT_LS_PACED: 5, XT_LS_RESTORED: 6, XT_LS_MAX: 8 } as const;
export const LIMIT_CONST = { XT_LIMIT_MAX_BUCKETS: 64 } as const;
export const XT_LIMIT_MAX_BUCKETS = LIMIT_CONST.XT_LIMIT_MAX_BUCKETS;

export const LIMIT_ENUMS: EnumLayouts = {
  xt_limit_ev: LIMIT_EV,
  xt_limit_via: LIMIT_VIA,
  xt_limit_stat: LIMIT_STAT,
  xt_limit_const: LIMIT_CONST,
};

/** bpf/limit.bpf.c's boundary, as test/unit/layout.test.ts checks it against the object's BTF. */
export const LAYOUT: ObjectLayout = { structs: LIMIT_STRUCTS, enums: LIMIT_ENUMS, config: LIMIT_CONFIG, configVar: 'xt_limit_cfg' };
