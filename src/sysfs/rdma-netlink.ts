/**
 * The kernel's RDMA netlink (NETLINK_RDMA, the nldev client; what iproute2's `rdma` asks): devices, the
 * QPs of each with the pid that owns them (QP type and state), and a port's per-QP counter mode. No
 * shelling out to `rdma`. Constants are uapi/rdma/rdma_netlink.h's and ib_verbs.h's.
 */
import { type Attrs, NLM_F_DUMP, attr, netlinkRequest, parseAttrs, str, u32, u64, u8 } from '../bpf/netlink.js';

const NETLINK_RDMA = 20;
const RDMA_NL_NLDEV = 5;
const type = (op: number): number => (RDMA_NL_NLDEV << 10) + op;
const CMD = { GET: 1, RES_QP_GET: 10, STAT_GET: 17 } as const;
const A = {
  DEV_INDEX: 1, DEV_NAME: 2, PORT_INDEX: 3, FW_VERSION: 5, NODE_GUID: 6,
  RES_QP: 19, RES_QP_ENTRY: 20, RES_LQPN: 21, RES_RQPN: 22, RES_TYPE: 26, RES_STATE: 27, RES_PID: 28, RES_KERN_NAME: 29,
  NDEV_INDEX: 50, NDEV_NAME: 51, DEV_PROTOCOL: 67,
  STAT_MODE: 74, STAT_RES: 75, STAT_AUTO_MODE_MASK: 76, STAT_COUNTER: 77, STAT_COUNTER_ENTRY: 78, STAT_COUNTER_ID: 79,
  STAT_HWCOUNTERS: 80, STAT_HWCOUNTER_ENTRY: 81, STAT_HWCOUNTER_ENTRY_NAME: 82, STAT_HWCOUNTER_ENTRY_VALUE: 83,
} as const;

/** enum ib_qp_type */
const QP_TYPES: Record<number, string> = { 0: 'SMI', 1: 'GSI', 2: 'RC', 3: 'UC', 4: 'UD', 5: 'RAW_IPV6', 6: 'RAW_ETHERTYPE', 8: 'RAW_PACKET', 9: 'XRC_INI', 10: 'XRC_TGT' };
/** enum ib_qp_state */
const QP_STATES: Record<number, string> = { 0: 'RESET', 1: 'INIT', 2: 'RTR', 3: 'RTS', 4: 'SQD', 5: 'SQE', 6: 'ERR' };
/** enum rdma_nl_counter_mode and its auto-mode mask bits */
const COUNTER_MODES: Record<number, string> = { 0: 'none', 1: 'auto', 2: 'manual' };
const MASK_QP_TYPE = 1;
const MASK_PID = 2;

export interface RdmaQp {
  device: string;
  port: number | null;
  lqpn: number;
  rqpn: number | null;
  type: string;
  state: string;
  /** the owning process (a user QP); null for the kernel's own */
  pid: number | null;
  /** the kernel user's name for a kernel QP */
  kern: string | null;
}

const nested = (a: Attrs, t: number): Attrs[] => (a.get(t) ?? []).map((b) => parseAttrs(b));

/** Every QP of every device: a dump a device (the kernel wants the device's index: iproute2 asks so too). */
export function rdmaQps(): RdmaQp[] {
  const out: RdmaQp[] = [];
  const msgs = rdmaNlDevices().flatMap((d) => netlinkRequest(NETLINK_RDMA, type(CMD.RES_QP_GET), NLM_F_DUMP, attr(A.DEV_INDEX, d.index), `RDMA netlink: QPs of ${d.name}`));
  for (const msg of msgs) {
    const a = parseAttrs(msg);
    const device = str(a, A.DEV_NAME) ?? `dev${u32(a, A.DEV_INDEX) ?? '?'}`;
    for (const table of nested(a, A.RES_QP))
      for (const q of nested(table, A.RES_QP_ENTRY)) {
        const t = u8(q, A.RES_TYPE);
        const s = u8(q, A.RES_STATE);
        out.push({
          device,
          port: u32(q, A.PORT_INDEX) ?? null,
          lqpn: u32(q, A.RES_LQPN) ?? 0,
          rqpn: u32(q, A.RES_RQPN) ?? null,
          type: t === undefined ? 'unknown' : QP_TYPES[t] ?? String(t),
          state: s === undefined ? 'unknown' : QP_STATES[s] ?? String(s),
          pid: u32(q, A.RES_PID) ?? null,
          kern: str(q, A.RES_KERN_NAME) ?? null,
        });
      }
  }
  return out;
}

export interface RdmaNlDevice {
  index: number;
  name: string;
  fwVersion: string | null;
  nodeGuid: bigint | null;
  /** "roce", "ib", "iw" (5.9+) */
  protocol: string | null;
}

export function rdmaNlDevices(): RdmaNlDevice[] {
  return netlinkRequest(NETLINK_RDMA, type(CMD.GET), NLM_F_DUMP, Buffer.alloc(0), 'RDMA netlink: devices').map((msg) => {
    const a = parseAttrs(msg);
    return { index: u32(a, A.DEV_INDEX) ?? 0, name: str(a, A.DEV_NAME) ?? '?', fwVersion: str(a, A.FW_VERSION) ?? null, nodeGuid: u64(a, A.NODE_GUID) ?? null, protocol: str(a, A.DEV_PROTOCOL) ?? null };
  });
}

export interface QpCounterMode {
  /** none | auto | manual */
  mode: string;
  /** auto mode binds QPs to a counter per pid */
  byPid: boolean;
  byType: boolean;
}

/** A port's per-QP counter mode (`rdma statistic qp mode`); the kernel's refusal as an error string (no per-QP counters). */
export function qpCounterMode(devIndex: number, port: number): QpCounterMode | { error: string } {
  try {
    const [msg] = netlinkRequest(
      NETLINK_RDMA,
      type(CMD.STAT_GET),
      0,
      Buffer.concat([attr(A.DEV_INDEX, devIndex), attr(A.PORT_INDEX, port), attr(A.STAT_RES, A.RES_QP)]),
      'RDMA netlink: counter mode',
    );
    if (!msg) return { error: 'no answer' };
    const a = parseAttrs(msg);
    const m = u32(a, A.STAT_MODE) ?? 0;
    const mask = u32(a, A.STAT_AUTO_MODE_MASK) ?? 0;
    return { mode: COUNTER_MODES[m] ?? String(m), byPid: m === 1 && (mask & MASK_PID) !== 0, byType: m === 1 && (mask & MASK_QP_TYPE) !== 0 };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export interface QpCounter {
  device: string;
  port: number;
  id: number;
  /** the QPs bound to it, with their pids */
  qps: Array<{ lqpn: number; pid: number | null }>;
  values: Map<string, bigint>;
}

/** The per-QP counters bound on a device (auto or manual mode): each with its QPs and values. */
export function qpCounters(): QpCounter[] {
  const out: QpCounter[] = [];
  const msgs = rdmaNlDevices().flatMap((d) =>
    netlinkRequest(NETLINK_RDMA, type(CMD.STAT_GET), NLM_F_DUMP, Buffer.concat([attr(A.DEV_INDEX, d.index), attr(A.STAT_RES, A.RES_QP)]), `RDMA netlink: QP counters of ${d.name}`),
  );
  for (const msg of msgs) {
    const a = parseAttrs(msg);
    const device = str(a, A.DEV_NAME) ?? '?';
    const port = u32(a, A.PORT_INDEX) ?? 0;
    for (const table of nested(a, A.STAT_COUNTER))
      for (const e of nested(table, A.STAT_COUNTER_ENTRY)) {
        const values = new Map<string, bigint>();
        for (const h of nested(e, A.STAT_HWCOUNTERS))
          for (const v of nested(h, A.STAT_HWCOUNTER_ENTRY)) {
            const name = str(v, A.STAT_HWCOUNTER_ENTRY_NAME);
            const val = u64(v, A.STAT_HWCOUNTER_ENTRY_VALUE);
            if (name !== undefined && val !== undefined) values.set(name, val);
          }
        const qps = nested(e, A.RES_QP).flatMap((t) => nested(t, A.RES_QP_ENTRY)).map((q) => ({ lqpn: u32(q, A.RES_LQPN) ?? 0, pid: u32(q, A.RES_PID) ?? null }));
        out.push({ device, port, id: u32(e, A.STAT_COUNTER_ID) ?? 0, qps, values });
      }
  }
  return out;
}
