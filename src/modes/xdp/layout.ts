/**
 * The xdp capability's structs: TypeScript mirror of bpf/include/flow.h (sizes, field offsets, enum values).
 * test/unit/layout.test.ts checks every number here against the BTF of build/bpf/flow.bpf.o.
 */
import type { EnumLayouts, ObjectLayout, StructLayout } from '../../bpf/layout.js';

export const FLOW_KEY = {
  name: 'xt_flow_key',
  size: 48,
  fields: { src: 0, dst: 16, ifindex: 32, sport: 36, dport: 38, proto: 40, dir: 41, kind: 42, family: 43, vlan: 44, icmp_type: 46, icmp_code: 47 },
} as const satisfies StructLayout;

export const FLOW_VAL = {
  name: 'xt_flow_val',
  size: 40,
  fields: { packets: 0, bytes: 8, first_ns: 16, last_ns: 24, tcp_flags: 32, pad: 33 },
} as const satisfies StructLayout;

export const LPM_KEY = { name: 'xt_lpm_key', size: 20, fields: { prefixlen: 0, addr: 4 } } as const satisfies StructLayout;

export const IP_VAL = {
  name: 'xt_ip_val',
  size: 32,
  fields: { in_packets: 0, in_bytes: 8, out_packets: 16, out_bytes: 24 },
} as const satisfies StructLayout;

export const EVENT = {
  name: 'xt_event',
  size: 72,
  fields: {
    ts_ns: 0, src: 8, dst: 24, ifindex: 40, len: 44, sport: 48, dport: 50, proto: 52, dir: 53, kind: 54,
    family: 55, tcp_flags: 56, roce_opcode: 57, segs: 58, roce_qp: 60, vlan: 64, icmp_type: 66, icmp_code: 67, ethertype: 68, pad: 70,
  },
} as const satisfies StructLayout;

export const CONFIG = {
  name: 'xt_config',
  size: 92,
  fields: { watch_count: 0, rate_limit: 4, log_enabled: 8, cfg_pad0: 9, ifindex: 12, filter: 76, capture: 77, cfg_pad: 78, snaplen: 80, copy_bytes: 84, cap_wake: 88 },
} as const satisfies StructLayout;

export const STATS = { name: 'xt_stats', size: 128, fields: { v: 0 } } as const satisfies StructLayout;

/** a record of the `packets` ring: a whole pcapng Enhanced Packet Block, this fixed part, caplen bytes padded to 4, then EPB_TAIL */
export const EPB = {
  name: 'xt_epb',
  size: 28,
  fields: { block_type: 0, block_len: 4, iface_id: 8, ts_high: 12, ts_low: 16, caplen: 20, len: 24 },
} as const satisfies StructLayout;
export const EPB_TAIL = { name: 'xt_epb_tail', size: 16, fields: { opt_code: 0, opt_len: 2, flags: 4, opt_end: 8, block_len: 12 } } as const satisfies StructLayout;

/** the per-CPU scratch copy the filter reads: src/capture/cbpf.ts addresses its fields from `data` on */
export const CAP = {
  name: 'xt_cap',
  size: 9324,
  fields: { epb: 0, data: 28, mem: 9244, wire_len: 9308, x_spill: 9312, n_spill: 9316, a_spill: 9320 },
} as const satisfies StructLayout;

export const STRUCTS: readonly StructLayout[] = [FLOW_KEY, FLOW_VAL, LPM_KEY, IP_VAL, EVENT, CONFIG, STATS, EPB, EPB_TAIL, CAP];

export const DIR = { XT_DIR_INGRESS: 0, XT_DIR_EGRESS: 1 } as const;
export const KIND = { XT_KIND_IP: 0, XT_KIND_ROCE_V1: 1, XT_KIND_ROCE_V2: 2, XT_KIND_ETHER: 3 } as const;
export const STAT = {
  XT_STAT_RX_PACKETS: 0, XT_STAT_RX_BYTES: 1, XT_STAT_TX_PACKETS: 2, XT_STAT_TX_BYTES: 3, XT_STAT_NON_IP: 4,
  XT_STAT_FRAGMENTS: 5, XT_STAT_TRUNCATED: 6, XT_STAT_FLOWS_CREATED: 7, XT_STAT_FLOW_FAILED: 8, XT_STAT_EV_SENT: 9,
  XT_STAT_EV_SUPPRESSED: 10, XT_STAT_EV_DROPPED: 11, XT_STAT_CAP_SENT: 12, XT_STAT_CAP_DROPPED: 13, XT_STAT_FILTERED: 14, XT_STAT_MAX: 16,
} as const;
export const EPB_CONST = { XT_EPB_TYPE: 6, XT_EPB_OPT_FLAGS: 2, XT_EPB_INBOUND: 1, XT_EPB_OUTBOUND: 2 } as const;
export const FLOW_CONST = { XT_MAX_WATCH: 256, XT_MAX_IFACES: 16, XT_ICMP_NONE: 255, XT_CAP_MAX: 9216, XT_FILTER_MARK: 0x7f1173a1 } as const;
export const XT_MAX_WATCH = FLOW_CONST.XT_MAX_WATCH;
export const XT_MAX_IFACES = FLOW_CONST.XT_MAX_IFACES;
/** icmp_type/icmp_code when the ICMP header was not seen (a fragment, a truncated packet) */
export const XT_ICMP_NONE = FLOW_CONST.XT_ICMP_NONE;

/** Enum name -> its values, as the test compares them with BTF. */
export const ENUMS: EnumLayouts = {
  xt_dir: DIR,
  xt_kind: KIND,
  xt_stat: STAT,
  xt_flow_const: FLOW_CONST,
  xt_epb_const: EPB_CONST,
};

/** bpf/flow.bpf.c's boundary, as test/unit/layout.test.ts checks it against the object's BTF. */
export const LAYOUT: ObjectLayout = { structs: STRUCTS, enums: ENUMS, config: CONFIG, configVar: 'xt_cfg' };
