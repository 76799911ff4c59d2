/** Records of the rdma and nccl modes (src/records/rdma.ts), built from samples. */
import type { NcclRecord, RdmaDeviceRecord, RdmaRecord } from '../../records/index.js';
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
  /** a rail below this fraction of the busiest rail is out of balance */
  imbalanceRatio: number;
  /** below this (Gbit/s, TX+RX) on the busiest rail, balance is not judged */
  minGbps: number;
  /** an error counter is highlighted when its interval delta exceeds this */
  errorThreshold: number;
}

const gbps = (bytesPerS: number | undefined): number | undefined => (bytesPerS === undefined ? undefined : Number(((bytesPerS * 8) / 1e9).toFixed(3)));

/** One record per rail (device port), with imbalance judged across the rails of this sample. */
export function ncclRecords(samples: PortSample[], procs: RdmaProcess[], ts: string, t: NcclThresholds): NcclRecord[] {
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
    };
    const tx = gbps(s.txBytesPerS);
    const rx = gbps(s.rxBytesPerS);
    if (tx !== undefined) r.tx_gbps = tx;
    if (rx !== undefined) r.rx_gbps = rx;
    if (s.txUtil !== undefined) r.tx_util = s.txUtil;
    if (s.rxUtil !== undefined) r.rx_util = s.rxUtil;
    for (const group of [r.retrans, r.link])
      for (const [n, v] of Object.entries(group)) if (v > t.errorThreshold) r.alerts.push(`${n} +${v}`);
    for (const note of s.notes) if (note.startsWith('link rate changed')) r.alerts.push(note);
    if (s.dtS !== null && s.info.state !== 'ACTIVE') r.alerts.push(`port ${s.info.state}/${s.info.physState}`);
    return r;
  });
  const load = (r: NcclRecord): number | undefined => (r.tx_gbps === undefined || r.rx_gbps === undefined ? undefined : r.tx_gbps + r.rx_gbps);
  const active = recs.filter((r) => r.state === 'ACTIVE' && load(r) !== undefined);
  const busiest = active.reduce<NcclRecord | null>((b, r) => (!b || load(r)! > load(b)! ? r : b), null);
  if (busiest && load(busiest)! >= t.minGbps && active.length > 1)
    for (const r of active)
      if (r !== busiest && load(r)! < t.imbalanceRatio * load(busiest)!)
        r.alerts.push(`imbalance: ${load(r)!.toFixed(2)} Gbit/s is ${(load(r)! / load(busiest)!).toFixed(2)} of ${busiest.device}/${busiest.port} (${load(busiest)!.toFixed(2)} Gbit/s)`);
  return recs;
}
