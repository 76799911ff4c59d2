/** Records of the rdma and nccl modes (src/records/rdma.ts), built from samples. */
import { type AlertRecord, type NcclRecord, type RdmaDeviceRecord, type RdmaRecord, ethtoolKind } from '../../records/index.js';
import type { DeviceInfo } from '../../sysfs/rdma.js';
import type { DeviceOwners } from './owners.js';
import { pauseTotal, pfcDeltas } from './pfc.js';
import { familyOf } from './drivers.js';
import { type PortSample, ethtoolDeltas, familyDeltas, otherDeltas } from './sampler.js';

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
    const f = familyOf(s.driver, n);
    if (f !== null && f !== 'congestion' && d.delta > BigInt(errorThreshold)) errors[n] = Number(d.delta);
  }
  const r: RdmaRecord = {
    type: 'rdma',
    ts,
    device: s.info.device,
    port: s.info.port,
    driver: s.driver.driver,
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
    bytes_source: s.bytesSource,
    packets_source: s.packetsSource,
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
  const pfc = pfcOf(s);
  if (pfc?.pause) r.pause_per_s = { rx: pfc.pause.rx_per_s, tx: pfc.pause.tx_per_s };
  if (pfc?.discards) r.discards_per_s = Number(Object.values(pfc.discards).reduce((a, v) => a + v, 0).toFixed(3));
  return r;
}

const perS = (v: number, dt: number): number => Number((v / dt).toFixed(3));

/**
 * The interval's pauses and discards of the port's net device, per second: null for a family the device
 * has no statistics of (veth has discards and no pauses), or on a first read.
 */
function pfcOf(s: PortSample): { pause: NcclRecord['pause']; discards: Record<string, number> | null } | null {
  if (s.dtS === null) return null;
  const dt = s.dtS;
  const names = [...s.counters.keys()].filter((n) => n.startsWith('ethtool_')).map((n) => n.slice('ethtool_'.length));
  if (names.length === 0) return null;
  const d = pfcDeltas(ethtoolDeltas(s));
  const rate = (m: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, perS(v, dt)]));
  const kinds = new Set(names.map((n) => ethtoolKind(n)?.kind));
  const pause = kinds.has('pause') || kinds.has('pause_us') || kinds.has('pause_other')
    ? {
        rx_per_s: perS(pauseTotal(d.pause.rx), dt),
        tx_per_s: perS(pauseTotal(d.pause.tx), dt),
        rx_by_priority: rate(d.pause.rx),
        tx_by_priority: rate(d.pause.tx),
        // microseconds paused over the interval, as a share of it (mlx5: summed over priorities)
        rx_paused_fraction: Number((pauseTotal(d.pauseUs.rx) / 1e6 / dt).toFixed(4)),
        tx_paused_fraction: Number((pauseTotal(d.pauseUs.tx) / 1e6 / dt).toFixed(4)),
        other: rate(d.otherPause),
      }
    : null;
  return { pause, discards: kinds.has('discard') ? rate(d.discards) : null };
}

export interface NcclThresholds {
  /** a rail whose utilisation is below this fraction of the busiest rail's is out of balance */
  imbalanceRatio: number;
  /** congestion notifications (CNPs sent, handled, ignored; ECN marks) a second over which a rail is congested */
  congestionRate: number;
  /** pause frames a second (received and sent, every priority) over which a rail is paused */
  pauseRate: number;
  /** discards a second over which a rail is dropping */
  discardRate: number;
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
export function ncclRecords(samples: PortSample[], owners: ReadonlyMap<string, DeviceOwners>, ts: string, t: NcclThresholds): NcclRecord[] {
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
      driver: s.driver.driver,
      bytes_source: s.bytesSource,
      congestion: familyDeltas(s, 'congestion'),
      retrans: familyDeltas(s, 'retrans'),
      link: familyDeltas(s, 'link'),
      errors: familyDeltas(s, 'errors'),
      other: otherDeltas(s),
      processes: (owners.get(s.info.device)?.owners ?? []).map((o) => ({
        pid: o.pid,
        comm: o.comm,
        nccl: o.nccl,
        job: o.job,
        qps: o.qps.filter((q) => q.type !== 'GSI' && q.type !== 'SMI').length,
        ...(o.counters ? { counters: o.counters } : {}),
      })),
      jobs: owners.get(s.info.device)?.jobs ?? [],
      qp_counters: owners.get(s.info.device)?.qpCounters ?? 'unknown',
      pause: null,
      discards_per_s: null,
      alerts: [],
      alert_ids: [],
    };
    const pfc = pfcOf(s);
    r.pause = pfc?.pause ?? null;
    r.discards_per_s = pfc?.discards ?? null;
    const tx = gbps(s.txBytesPerS);
    const rx = gbps(s.rxBytesPerS);
    if (tx !== undefined) r.tx_gbps = tx;
    if (rx !== undefined) r.rx_gbps = rx;
    if (s.txUtil !== undefined) r.tx_util = s.txUtil;
    if (s.rxUtil !== undefined) r.rx_util = s.rxUtil;
    const mine: Array<[string, string]> = [];
    for (const group of [r.retrans, r.link, r.errors]) for (const [n, v] of Object.entries(group)) if (v > t.errorThreshold) mine.push([`error:${n}`, `${n} +${v}`]);
    for (const note of s.notes) if (note.startsWith('link rate changed')) mine.push(['rate', note]);
    if (s.dtS !== null) {
      const cnps = Object.entries(r.congestion).filter(([n]) => n !== 'port_xmit_wait');
      const cnpRate = cnps.reduce((a, [, v]) => a + v, 0) / s.dtS;
      if (cnpRate > t.congestionRate) mine.push(['congestion', `congestion: ${cnpRate.toFixed(0)} notifications/s over ${t.congestionRate} (${cnps.map(([n, v]) => `${n} +${v}`).join(', ')})`]);
    }
    if (r.pause) {
      const rate = r.pause.rx_per_s + r.pause.tx_per_s;
      if (rate > t.pauseRate) mine.push(['pause', `pause: ${rate.toFixed(0)} pause frames/s over ${t.pauseRate} (received ${r.pause.rx_per_s}/s, sent ${r.pause.tx_per_s}/s; paused ${pct(r.pause.rx_paused_fraction)} of the time)`]);
    }
    if (r.discards_per_s) {
      const rate = Object.values(r.discards_per_s).reduce((a, v) => a + v, 0);
      if (rate > t.discardRate) mine.push(['discards', `discards: ${rate.toFixed(1)}/s over ${t.discardRate} (${Object.entries(r.discards_per_s).filter(([, v]) => v > 0).map(([n, v]) => `${n} ${v}/s`).join(', ')})`]);
    }
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
  private active = new Map<string, { since: string; device: string; port: number; message: string; jobs: string[] }>();

  /** The alerts raised and not cleared: their ids. */
  activeIds(): Array<{ id: string; device: string; port: number; jobs: string[] }> {
    return [...this.active].map(([id, a]) => ({ id, device: a.device, port: a.port, jobs: a.jobs }));
  }

  update(recs: NcclRecord[], ts: string): AlertRecord[] {
    const out: AlertRecord[] = [];
    const now = new Set<string>();
    for (const r of recs)
      r.alert_ids.forEach((id, i) => {
        now.add(id);
        if (this.active.has(id)) return;
        this.active.set(id, { since: ts, device: r.device, port: r.port, message: r.alerts[i]!, jobs: r.jobs });
        out.push({ type: 'alert', ts, id, state: 'raised', device: r.device, port: r.port, message: r.alerts[i]!, jobs: r.jobs });
      });
    for (const [id, a] of this.active) {
      if (now.has(id)) continue;
      this.active.delete(id);
      const lasted = ((Date.parse(ts) - Date.parse(a.since)) / 1000).toFixed(0);
      out.push({ type: 'alert', ts, id, state: 'cleared', device: a.device, port: a.port, message: `${a.message} (lasted ${lasted} s)`, since: a.since, jobs: a.jobs });
    }
    return out;
  }
}
