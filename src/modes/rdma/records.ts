/** Records of the rdma and nccl modes (src/records/rdma.ts), built from samples. */
import type { AlertRecord, NcclRecord, RdmaDeviceRecord, RdmaRecord } from '../../records/index.js';
import type { DeviceInfo, RdmaProcess } from '../../sysfs/rdma.js';
import { CONGESTION, ERROR_COUNTERS, LINK, type PortSample, RETRANS, deltasOf } from './sampler.js';

export function deviceRecord(d: DeviceInfo, ts: string): RdmaDeviceRecord {
  return {
    type: 'rdma_device',
    ts,
    device: d.name,
    hca_type: d.hcaType,
    fw_ver: d.fwVer,
    board_id: d.boardId,
    node_guid: d.nodeGuid,
    sys_image_guid: d.sysImageGuid,
    pci: d.pci,
    numa_node: d.numaNode,
    nearest_gpu: d.nearestGpu?.pci ?? null,
    nearest_gpu_topo: d.nearestGpu?.topo ?? null,
    ports: d.ports.map((p) => ({ port: p.port, state: p.state, phys_state: p.physState, rate: p.rateText, link_layer: p.linkLayer, lid: p.lid, netdev: p.netdev, netdev_up: p.netdevUp })),
  };
}

export function rdmaRecord(s: PortSample, ts: string, errorThreshold: number): RdmaRecord {
  const counters: Record<string, number> = {};
  for (const [n, v] of s.totals) counters[n] = Number(v);
  const deltas: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const [n, d] of s.deltas) {
    deltas[n] = Number(d.delta);
    if (ERROR_COUNTERS.has(n) && d.delta > BigInt(errorThreshold)) errors[n] = Number(d.delta);
  }
  const r: RdmaRecord = {
    type: 'rdma',
    ts,
    device: s.info.device,
    port: s.info.port,
    link_layer: s.info.linkLayer,
    state: s.info.state,
    state_id: s.info.stateId,
    phys_state: s.info.physState,
    phys_state_id: s.info.physStateId,
    rate: s.info.rateText,
    rate_gbps: s.info.rateGbps,
    netdev: s.info.netdev,
    netdev_up: s.info.netdevUp,
    interval_s: s.dtS,
    counters,
    deltas,
    errors,
    notes: s.notes,
  };
  if (s.txBytesPerS !== undefined) r.tx_bytes_per_s = s.txBytesPerS;
  if (s.rxBytesPerS !== undefined) r.rx_bytes_per_s = s.rxBytesPerS;
  if (s.txPacketsPerS !== undefined) r.tx_packets_per_s = s.txPacketsPerS;
  if (s.rxPacketsPerS !== undefined) r.rx_packets_per_s = s.rxPacketsPerS;
  if (s.txUtil !== undefined) r.tx_util = s.txUtil;
  if (s.rxUtil !== undefined) r.rx_util = s.rxUtil;
  return r;
}

export interface NcclThresholds {
  /** a rail whose utilisation is below this fraction of the busiest rail's is out of balance */
  imbalanceRatio: number;
  /** below this (Gbit/s, TX+RX) on the busiest rail, balance is not judged */
  minGbps: number;
  /** an error counter is highlighted when its interval delta exceeds this */
  errorThreshold: number;
}

const gbps = (bytesPerS: number | undefined): number | undefined => (bytesPerS === undefined ? undefined : Number(((bytesPerS * 8) / 1e9).toFixed(3)));
const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;

/**
 * One record per rail (device port). Imbalance compares utilisation (the busier direction, as a share of
 * the link rate), so rails of different speeds are judged alike: a 100G rail at 79% is as busy as a 400G
 * rail at 79%.
 */
export function ncclRecords(samples: PortSample[], procs: RdmaProcess[], ts: string, t: NcclThresholds): NcclRecord[] {
  const alerts = new Map<NcclRecord, Array<[string, string]>>();
  const recs = samples.map((s): NcclRecord => {
    const r: NcclRecord = {
      type: 'nccl',
      ts,
      device: s.info.device,
      port: s.info.port,
      netdev: s.info.netdev,
      link_layer: s.info.linkLayer,
      state: s.info.state,
      rate_gbps: s.info.rateGbps,
      congestion: deltasOf(s, CONGESTION),
      retrans: deltasOf(s, RETRANS),
      link: deltasOf(s, LINK),
      processes: procs.filter((p) => p.devices.includes(s.info.device)).map((p) => ({ pid: p.pid, comm: p.comm, nccl: p.nccl })),
      alerts: [],
      alert_ids: [],
    };
    const tx = gbps(s.txBytesPerS);
    const rx = gbps(s.rxBytesPerS);
    if (tx !== undefined) r.tx_gbps = tx;
    if (rx !== undefined) r.rx_gbps = rx;
    if (s.txUtil !== undefined) r.tx_util = s.txUtil;
    if (s.rxUtil !== undefined) r.rx_util = s.rxUtil;
    const mine: Array<[string, string]> = [];
    for (const group of [r.retrans, r.link]) for (const [n, v] of Object.entries(group)) if (v > t.errorThreshold) mine.push([`error:${n}`, `${n} +${v}`]);
    for (const note of s.notes) if (note.startsWith('link rate changed')) mine.push(['rate', note]);
    if (s.dtS !== null && s.info.state !== 'ACTIVE') mine.push(['state', `port ${s.info.state}/${s.info.physState}`]);
    alerts.set(r, mine);
    return r;
  });
  const util = (r: NcclRecord): number | undefined => (r.tx_util === undefined || r.rx_util === undefined ? undefined : Math.max(r.tx_util, r.rx_util));
  const load = (r: NcclRecord): number => (r.tx_gbps ?? 0) + (r.rx_gbps ?? 0);
  const active = recs.filter((r) => r.state === 'ACTIVE' && util(r) !== undefined);
  const busiest = active.reduce<NcclRecord | null>((b, r) => (!b || util(r)! > util(b)! ? r : b), null);
  if (busiest && load(busiest) >= t.minGbps && active.length > 1)
    for (const r of active)
      if (r !== busiest && util(r)! < t.imbalanceRatio * util(busiest)!)
        alerts.get(r)!.push([
          'imbalance',
          `imbalance: ${pct(util(r)!)} utilised (${load(r).toFixed(2)} Gbit/s of ${r.rate_gbps}G), ${(util(r)! / util(busiest)!).toFixed(2)} of ${busiest.device}/${busiest.port} (${pct(util(busiest)!)} of ${busiest.rate_gbps}G)`,
        ]);
  for (const r of recs) {
    const id = (k: string): string => `${r.device}/${r.port}:${k}`;
    r.alerts = alerts.get(r)!.map(([, m]) => m);
    r.alert_ids = alerts.get(r)!.map(([k]) => id(k));
  }
  return recs;
}

/** Turns the conditions of each interval into alerts raised once and cleared once. */
export class AlertTracker {
  private active = new Map<string, { since: string; device: string; port: number; message: string }>();

  update(recs: NcclRecord[], ts: string): AlertRecord[] {
    const out: AlertRecord[] = [];
    const now = new Set<string>();
    for (const r of recs)
      r.alert_ids.forEach((id, i) => {
        now.add(id);
        if (this.active.has(id)) return;
        this.active.set(id, { since: ts, device: r.device, port: r.port, message: r.alerts[i]! });
        out.push({ type: 'alert', ts, id, state: 'raised', device: r.device, port: r.port, message: r.alerts[i]! });
      });
    for (const [id, a] of this.active) {
      if (now.has(id)) continue;
      this.active.delete(id);
      const lasted = ((Date.parse(ts) - Date.parse(a.since)) / 1000).toFixed(0);
      out.push({ type: 'alert', ts, id, state: 'cleared', device: a.device, port: a.port, message: `${a.message} (lasted ${lasted} s)`, since: a.since });
    }
    return out;
  }
}
