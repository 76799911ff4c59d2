/**
 * RDMA devices from sysfs (/sys/class/infiniband), as the kernel presents them. The roots are
 * injectable so tests run on fixture trees. Nothing here estimates: a value the kernel does not
 * expose is absent.
 */
import { existsSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { readText } from '../host/files.js';

export interface Roots {
  /** stands for /sys */
  sys: string;
  /** stands for /proc */
  proc: string;
}

export interface PortInfo {
  device: string;
  port: number;
  state: string; // "ACTIVE"
  stateId: number | null;
  physState: string; // "LinkUp"
  physStateId: number | null;
  rateText: string; // "100 Gb/sec (4X EDR)"
  rateGbps: number | null;
  linkLayer: string; // "InfiniBand" | "Ethernet"
  lid: string | null;
  netdev: string | null;
  netdevUp: boolean | null;
}

export interface GpuLink {
  pci: string;
  /** nvidia-smi topo -m classes */
  topo: 'PIX' | 'PXB' | 'PHB' | 'NODE' | 'SYS';
}

export interface DeviceInfo {
  name: string;
  /** the PCI function's kernel driver (mlx5_core, bnxt_en); null for a device without one (rxe) */
  driver: string | null;
  nodeGuid: string | null;
  sysImageGuid: string | null;
  fwVer: string | null;
  hcaType: string | null;
  boardId: string | null;
  hwRev: string | null;
  pci: string | null;
  numaNode: number | null;
  ports: PortInfo[];
  nearestGpu: GpuLink | null;
}

function list(path: string): string[] {
  try {
    return readdirSync(path).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  } catch {
    return [];
  }
}

/** "4: ACTIVE" -> [4, "ACTIVE"] */
function idText(s: string | null): [number | null, string] {
  if (s === null) return [null, 'unknown'];
  const m = /^(\d+):\s*(.*)$/.exec(s);
  return m ? [Number(m[1]), m[2]!] : [null, s];
}

/** "100 Gb/sec (4X EDR)", "2.5 Gb/sec (1X SDR)", "10 Gb/sec (4X)" -> Gb/s */
export function parseRate(s: string | null): number | null {
  const m = s ? /^(\d+(?:\.\d+)?)\s*Gb\/sec/.exec(s) : null;
  return m ? Number(m[1]) : null;
}

export const ibDir = (r: Roots, dev: string): string => join(r.sys, 'class/infiniband', dev);
export const portDir = (r: Roots, dev: string, port: number): string => join(ibDir(r, dev), 'ports', String(port));

export function listDevices(r: Roots): string[] {
  return list(join(r.sys, 'class/infiniband'));
}

/** The port's net device: the RoCE GID table names it; else the PCI function's net/ with dev_port = port - 1 (ibdev2netdev). */
function portNetdev(r: Roots, dev: string, port: number): string | null {
  const ndev = readText(join(portDir(r, dev, port), 'gid_attrs/ndevs/0'));
  if (ndev) return ndev;
  const netDir = join(ibDir(r, dev), 'device/net');
  const names = list(netDir);
  const byPort = names.find((n) => {
    const dp = readText(join(netDir, n, 'dev_port')) ?? readText(join(netDir, n, 'dev_id'));
    return dp !== null && Number(dp) === port - 1;
  });
  return byPort ?? (names.length === 1 ? names[0]! : null);
}

/** Path components of a PCI device below /sys/devices ("pci0000:3a", "0000:3a:00.0", ...). */
function pciChain(r: Roots, link: string): string[] | null {
  try {
    const real = realpathSync(link);
    const base = realpathSync(join(r.sys, 'devices'));
    const rel = relative(base, real);
    return rel.startsWith('..') ? null : rel.split('/');
  } catch {
    return null;
  }
}

const TOPO_ORDER = ['PIX', 'PXB', 'PHB', 'NODE', 'SYS'] as const;

/** nvidia-smi's classes from two PCI chains and NUMA nodes. */
export function pciTopo(a: string[], b: string[], numaA: number | null, numaB: number | null): GpuLink['topo'] {
  if (a[0] !== b[0]) return numaA !== null && numaA === numaB ? 'NODE' : 'SYS';
  let k = 0;
  while (k < Math.min(a.length, b.length) - 1 && a[k] === b[k]) k++;
  if (k <= 1) return 'PHB'; // only the host bridge in common
  // below the common bridge: a switch's downstream port and the device = one switch traversed
  return Math.max(a.length - k, b.length - k) <= 2 ? 'PIX' : 'PXB';
}

function nearestGpu(r: Roots, chain: string[] | null, numa: number | null): GpuLink | null {
  if (!chain) return null;
  let best: GpuLink | null = null;
  const pciDir = join(r.sys, 'bus/pci/devices');
  for (const addr of list(pciDir)) {
    const d = join(pciDir, addr);
    const cls = readText(join(d, 'class')) ?? '';
    if (readText(join(d, 'vendor')) !== '0x10de' || !/^0x03(00|02)/.test(cls)) continue;
    const gc = pciChain(r, d);
    if (!gc) continue;
    const numaG = readText(join(d, 'numa_node'));
    const topo = pciTopo(chain, gc, numa, numaG === null ? null : Number(numaG));
    if (!best || TOPO_ORDER.indexOf(topo) < TOPO_ORDER.indexOf(best.topo)) best = { pci: addr, topo };
  }
  return best;
}

export function portInfo(r: Roots, dev: string, port: number): PortInfo {
  const pd = portDir(r, dev, port);
  const [stateId, state] = idText(readText(join(pd, 'state')));
  const [physStateId, physState] = idText(readText(join(pd, 'phys_state')));
  const rateText = readText(join(pd, 'rate')) ?? '';
  const netdev = portNetdev(r, dev, port);
  const carrier = netdev ? readText(join(r.sys, 'class/net', netdev, 'carrier')) : null;
  return {
    device: dev,
    port,
    state,
    stateId,
    physState,
    physStateId,
    rateText,
    rateGbps: parseRate(rateText),
    linkLayer: readText(join(pd, 'link_layer')) ?? 'unknown',
    lid: readText(join(pd, 'lid')),
    netdev,
    netdevUp: carrier === null ? null : carrier === '1',
  };
}

export function deviceInfo(r: Roots, dev: string): DeviceInfo | null {
  const d = ibDir(r, dev);
  if (!existsSync(d)) return null;
  const chain = pciChain(r, join(d, 'device'));
  const numa = readText(join(d, 'device/numa_node'));
  const numaNode = numa === null || Number(numa) < 0 ? null : Number(numa);
  // an empty identity file (rxe's fw_ver) is no value: shown as unknown
  const id = (f: string): string | null => readText(join(d, f)) || null;
  let driver: string | null = null;
  try {
    driver = basename(realpathSync(join(d, 'device/driver')));
  } catch {
    /* no PCI function (Soft-RoCE) */
  }
  return {
    name: dev,
    driver,
    nodeGuid: id('node_guid'),
    sysImageGuid: id('sys_image_guid'),
    fwVer: id('fw_ver'),
    hcaType: id('hca_type'),
    boardId: id('board_id'),
    hwRev: id('hw_rev'),
    pci: chain ? chain[chain.length - 1]! : null,
    numaNode,
    ports: list(join(d, 'ports'))
      .filter((p) => /^\d+$/.test(p))
      .map((p) => portInfo(r, dev, Number(p))),
    nearestGpu: nearestGpu(r, chain, numaNode),
  };
}

export function discover(r: Roots): DeviceInfo[] {
  return listDevices(r)
    .map((d) => deviceInfo(r, d))
    .filter((d): d is DeviceInfo => d !== null);
}

/** ibdev2netdev's line: `mlx5_0 port 1 ==> ib0 (Up)` */
export function ibdev2netdevLine(p: PortInfo): string {
  return `${p.device} port ${p.port} ==> ${p.netdev ?? '(none)'} (${p.netdevUp === null ? 'Unknown' : p.netdevUp ? 'Up' : 'Down'})`;
}

export type CounterGroup = 'counters' | 'hw_counters' | 'counters_ext' | 'netdev' | 'ethtool';

export interface Counter {
  group: CounterGroup;
  value: bigint;
}

/** Every readable counter of a port. Files reading "N/A (no PMA)" (old kernels) or failing to read are absent. */
export function readCounters(r: Roots, p: { device: string; port: number; netdev: string | null }): Map<string, Counter> {
  const out = new Map<string, Counter>();
  const pd = portDir(r, p.device, p.port);
  const take = (dir: string, group: CounterGroup, prefix = ''): void => {
    for (const name of list(dir)) {
      if (name === 'lifespan') continue;
      const t = readText(join(dir, name));
      if (t === null || !/^\d+$/.test(t.trim())) continue;
      out.set(prefix + name, { group, value: BigInt(t.trim()) });
    }
  };
  take(join(pd, 'counters'), 'counters');
  take(join(pd, 'counters_ext'), 'counters_ext');
  // switchdev mode puts hw_counters at device level; port level wins where both exist
  take(join(ibDir(r, p.device), 'hw_counters'), 'hw_counters');
  take(join(pd, 'hw_counters'), 'hw_counters');
  if (p.netdev) take(join(r.sys, 'class/net', p.netdev, 'statistics'), 'netdev', 'netdev_');
  return out;
}

/* mlx5 firmware keeps these 32 bits wide: they wrap. */
const WRAP32 = new Set([
  'rx_write_requests', 'rx_read_requests', 'rx_atomic_requests', 'rx_dct_connect', 'out_of_buffer', 'out_of_sequence',
  'duplicate_request', 'rnr_nak_retry_err', 'packet_seq_err', 'implied_nak_seq_err', 'local_ack_timeout_err',
  'resp_local_length_error', 'resp_cqe_error', 'req_cqe_error', 'req_remote_invalid_request', 'req_remote_access_errors',
  'resp_remote_access_errors', 'resp_cqe_flush_error', 'req_cqe_flush_error', 'req_transport_retries_exceeded',
  'req_rnr_retries_exceeded', 'roce_adp_retrans', 'roce_adp_retrans_to', 'roce_slow_restart', 'roce_slow_restart_cnps',
  'roce_slow_restart_trans',
]);

/* IBA PortCounters widths: these saturate at all-ones instead of wrapping. */
const SATURATE_BITS: Record<string, number> = {
  symbol_error: 16, link_error_recovery: 8, link_downed: 8, port_rcv_errors: 16, port_rcv_remote_physical_errors: 16,
  port_rcv_switch_relay_errors: 16, port_xmit_discards: 16, port_xmit_constraint_errors: 8, port_rcv_constraint_errors: 8,
  local_link_integrity_errors: 4, excessive_buffer_overrun_errors: 4, VL15_dropped: 16, port_xmit_wait: 32,
};
/* Data and packet counters: 64 bits with extended width, else 32 bits that saturate. */
const DATA_COUNTERS = new Set([
  'port_xmit_data', 'port_rcv_data', 'port_xmit_packets', 'port_rcv_packets', 'unicast_xmit_packets', 'unicast_rcv_packets',
  'multicast_xmit_packets', 'multicast_rcv_packets',
]);

export type DeltaNote = 'wrapped' | 'reset' | 'saturated';

export interface Delta {
  delta: bigint;
  note?: DeltaNote;
}

const TWO32 = 1n << 32n;

/**
 * The increase of a counter between two reads. A 32-bit counter that goes backwards by less than
 * half its range wrapped; one that goes back further (or a 64-bit one that goes back at all) was
 * reset, and the delta is what it counted since (its current value). A counter at its saturation
 * value is flagged: its true increase is unknown beyond what it shows.
 */
export function counterDelta(name: string, group: CounterGroup, prev: bigint, cur: bigint): Delta {
  const satBits = group === 'counters' ? SATURATE_BITS[name] ?? (DATA_COUNTERS.has(name) && cur <= 0xffffffffn ? 32 : undefined) : undefined;
  if (satBits !== undefined && cur === (1n << BigInt(satBits)) - 1n) return { delta: cur - (prev <= cur ? prev : 0n), note: 'saturated' };
  if (cur >= prev) return { delta: cur - prev };
  if (group === 'hw_counters' && WRAP32.has(name) && prev < TWO32) {
    const wrapped = cur + TWO32 - prev;
    if (wrapped < TWO32 / 2n) return { delta: wrapped, note: 'wrapped' };
  }
  return { delta: cur, note: 'reset' };
}

export interface RdmaProcess {
  pid: number;
  comm: string;
  devices: string[];
  nccl: boolean;
}

/** Processes holding /dev/infiniband/uverbsN open, mapped to devices through infiniband_verbs/uverbsN/ibdev. */
export function rdmaProcesses(r: Roots): RdmaProcess[] {
  const verbs = new Map<string, string>();
  for (const u of list(join(r.sys, 'class/infiniband_verbs'))) {
    const dev = readText(join(r.sys, 'class/infiniband_verbs', u, 'ibdev'));
    if (dev) verbs.set(u, dev);
  }
  const out: RdmaProcess[] = [];
  for (const pid of list(r.proc).filter((p) => /^\d+$/.test(p))) {
    const devices = new Set<string>();
    for (const fd of list(join(r.proc, pid, 'fd'))) {
      let target: string;
      try {
        target = readlinkSync(join(r.proc, pid, 'fd', fd));
      } catch {
        continue;
      }
      const m = /^\/dev\/infiniband\/(uverbs\d+)$/.exec(target);
      if (m && verbs.has(m[1]!)) devices.add(verbs.get(m[1]!)!);
    }
    if (devices.size === 0) continue;
    const maps = readText(join(r.proc, pid, 'maps')) ?? '';
    out.push({ pid: Number(pid), comm: readText(join(r.proc, pid, 'comm')) ?? '?', devices: [...devices].sort(), nccl: /libnccl/.test(maps) });
  }
  return out.sort((a, b) => a.pid - b.pid);
}
