/** Periodic reads of RDMA port counters, turned into rates and per-interval deltas. */
import {
  type Counter, type Delta, type PortInfo, type Roots, counterDelta, deviceInfo, listDevices, readCounters,
} from '../../sysfs/rdma.js';
import { type DriverTable, type Family, driverOf, familyOf, isTraffic } from './drivers.js';
import { pfcStatNames } from './pfc.js';

/** Where a port's bytes or packets were counted: the IB port counters, the driver's hw_counters, or the net device. */
export type RateSource = 'counters' | 'hw_counters' | 'netdev';

export interface PortSample {
  info: PortInfo;
  /** the driver's counter table */
  driver: DriverTable;
  bytesSource: RateSource | null;
  packetsSource: RateSource | null;
  counters: Map<string, Counter>;
  /** each counter's first value plus every increase since: keeps rising across 32-bit wraps and resets */
  totals: Map<string, bigint>;
  /** seconds since the previous sample of this port; null on its first */
  dtS: number | null;
  deltas: Map<string, Delta>;
  /** bytes/s from the best source the port has (bytesSource); absent when it has none */
  txBytesPerS?: number;
  rxBytesPerS?: number;
  txPacketsPerS?: number;
  rxPacketsPerS?: number;
  /** fraction of the port's link rate */
  txUtil?: number;
  rxUtil?: number;
  notes: string[];
}

export interface SampleResult {
  ports: PortSample[];
  /** things that happened: devices that vanished or appeared, counters that vanished */
  events: string[];
}

export interface PortFilter {
  device?: string;
  port?: number;
}

/** First counter present among the names (counters/ before the pre-4.5 counters_ext/ form). */
function pick(m: Map<string, Delta>, ...names: string[]): bigint | undefined {
  for (const n of names) {
    const d = m.get(n);
    if (d) return d.delta;
  }
  return undefined;
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

export class RdmaSampler {
  private prev = new Map<string, { at: number; counters: Map<string, Counter>; totals: Map<string, bigint>; rateGbps: number | null }>();
  private known = new Set<string>();
  /** device/port:counter of the counters stuck at their saturation value */
  private saturated = new Set<string>();

  constructor(
    private readonly roots: Roots,
    private readonly filter: PortFilter = {},
    /** the driver statistics of a net device (`ethtool -S`): only this machine's (none with a fixture tree) */
    private readonly ethtool?: (netdev: string) => ReadonlyMap<string, bigint> | null,
  ) {}

  /** `nowMs` from a monotonic clock (injectable for tests). */
  sample(nowMs: number): SampleResult {
    const events: string[] = [];
    const ports: PortSample[] = [];
    const devices = listDevices(this.roots).filter((d) => !this.filter.device || d === this.filter.device);
    const seen = new Set<string>();
    for (const dev of devices) {
      const di = deviceInfo(this.roots, dev);
      if (!di) continue;
      seen.add(dev);
      if (!this.known.has(dev) && this.known.size > 0) events.push(`${dev}: device appeared`);
      for (const info of di.ports) {
        if (this.filter.port !== undefined && info.port !== this.filter.port) continue;
        ports.push(this.samplePort(info, di.driver, nowMs, events));
      }
    }
    for (const dev of this.known) if (!seen.has(dev)) events.push(`${dev}: device disappeared; its counters are no longer read`);
    for (const key of [...this.prev.keys()]) if (!seen.has(key.split('/')[0]!)) this.prev.delete(key);
    this.known = seen;
    return { ports, events };
  }

  private samplePort(info: PortInfo, pciDriver: string | null, nowMs: number, events: string[]): PortSample {
    const key = `${info.device}/${info.port}`;
    const counters = readCounters(this.roots, info);
    // the net device's pause and discard statistics, prefixed ethtool_ (the other ones are not a rail's concern)
    const eth = info.netdev && this.ethtool ? this.ethtool(info.netdev) : null;
    if (eth) for (const n of pfcStatNames(eth.keys())) counters.set(`ethtool_${n}`, { group: 'ethtool', value: eth.get(n)! });
    const p = this.prev.get(key);
    const totals = new Map<string, bigint>();
    const hw = new Set([...counters].filter(([, c]) => c.group === 'hw_counters').map(([n]) => n));
    const driver = driverOf({ name: info.device, pciDriver, hwCounters: hw });
    const s: PortSample = { info, driver, ...rateSources(driver, counters, info.linkLayer), counters, totals, dtS: null, deltas: new Map(), notes: [] };
    const dt = p ? (nowMs - p.at) / 1000 : 0;
    for (const [name, c] of counters) {
      const old = p?.counters.get(name);
      if (!p || !old || dt <= 0) {
        totals.set(name, p?.totals.get(name) ?? c.value);
        continue;
      }
      const d = counterDelta(name, c.group, old.value, c.value);
      totals.set(name, (p.totals.get(name) ?? old.value) + d.delta);
      s.deltas.set(name, d);
      if (d.note === 'reset') s.notes.push(`${name} was reset (${old.value} -> ${c.value})`);
      if (d.note === 'wrapped') s.notes.push(`${name} wrapped at 32 bits`);
      // Said once when a counter reaches its saturation value; it leaves it only by a reset, said above.
      const satKey = `${key}:${name}`;
      if (d.note === 'saturated' && !this.saturated.has(satKey)) {
        this.saturated.add(satKey);
        s.notes.push(`${name} is saturated at ${c.value}: it no longer counts (its increases are at least what it shows) until it is reset`);
      } else if (d.note !== 'saturated') this.saturated.delete(satKey);
    }
    this.prev.set(key, { at: nowMs, counters, totals, rateGbps: info.rateGbps });
    if (!p || dt <= 0) return s;
    s.dtS = dt;
    for (const name of p.counters.keys()) if (!counters.has(name)) events.push(`${key}: counter ${name} vanished`);
    if (p.rateGbps !== null && info.rateGbps !== null && info.rateGbps !== p.rateGbps)
      s.notes.push(`link rate changed from ${p.rateGbps} to ${info.rateGbps} Gb/s (${info.rateText})`);
    const names = trafficNames(driver);
    const [tx, rx] = s.bytesSource ? names.bytes[s.bytesSource].map((n) => pick(s.deltas, ...n)) : [];
    const [txp, rxp] = s.packetsSource ? names.packets[s.packetsSource].map((n) => pick(s.deltas, ...n)) : [];
    const unit = s.bytesSource === 'counters' ? 4n : 1n; // port_*_data counts 4-byte words
    if (tx !== undefined) s.txBytesPerS = round(Number(tx * unit) / dt);
    if (rx !== undefined) s.rxBytesPerS = round(Number(rx * unit) / dt);
    if (txp !== undefined) s.txPacketsPerS = round(Number(txp) / dt);
    if (rxp !== undefined) s.rxPacketsPerS = round(Number(rxp) / dt);
    if (info.rateGbps) {
      const capacity = (info.rateGbps * 1e9) / 8;
      if (s.txBytesPerS !== undefined) s.txUtil = round(s.txBytesPerS / capacity, 4);
      if (s.rxBytesPerS !== undefined) s.rxUtil = round(s.rxBytesPerS / capacity, 4);
    }
    return s;
  }
}

type Pair = [string[], string[]];

/** The counters each source counts traffic in: [tx names, rx names], first present wins. */
function trafficNames(d: DriverTable): { bytes: Record<RateSource, Pair>; packets: Record<RateSource, Pair> } {
  const t = d.traffic ?? {};
  return {
    bytes: {
      counters: [['port_xmit_data', 'port_xmit_data_64'], ['port_rcv_data', 'port_rcv_data_64']],
      hw_counters: [t.txBytes ? [t.txBytes] : [], t.rxBytes ? [t.rxBytes] : []],
      netdev: [['netdev_tx_bytes'], ['netdev_rx_bytes']],
    },
    packets: {
      counters: [['port_xmit_packets', 'port_xmit_packets_64'], ['port_rcv_packets', 'port_rcv_packets_64']],
      hw_counters: [t.txPackets ? [t.txPackets] : [], t.rxPackets ? [t.rxPackets] : []],
      netdev: [['netdev_tx_packets'], ['netdev_rx_packets']],
    },
  };
}

/**
 * The best source of a port's bytes and of its packets: the IB port counters (mlx5, IB: RDMA traffic
 * only on a RoCE port), else the driver's hw_counters that count them (rxe: packets; bnxt_re, irdma),
 * else, on a RoCE port, its net device's statistics (all of the device's traffic, RDMA or not).
 */
export function rateSources(d: DriverTable, counters: ReadonlyMap<string, Counter>, linkLayer: string): { bytesSource: RateSource | null; packetsSource: RateSource | null } {
  const names = trafficNames(d);
  const has = (p: Pair): boolean => p[0].some((n) => counters.has(n)) && p[1].some((n) => counters.has(n));
  const best = (m: Record<RateSource, Pair>): RateSource | null =>
    (['counters', 'hw_counters', 'netdev'] as const).find((src) => (src !== 'netdev' || linkLayer === 'Ethernet') && has(m[src])) ?? null;
  return { bytesSource: best(names.bytes), packetsSource: best(names.packets) };
}

/** The interval's deltas of one family of the port's driver table (counters the port lacks stay absent). */
export function familyDeltas(s: PortSample, f: Family): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of s.driver.families[f]) {
    const d = s.deltas.get(n);
    if (d) out[n] = Number(d.delta);
  }
  return out;
}

/** The interval's increases of the net device's pause and discard statistics (without their ethtool_ prefix). */
export function ethtoolDeltas(s: PortSample): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [n, d] of s.deltas) if (n.startsWith('ethtool_')) out.set(n.slice('ethtool_'.length), d.delta);
  return out;
}

/** Counters that moved this interval and that no table names: shown as they are, never dropped. */
export function otherDeltas(s: PortSample): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [n, d] of s.deltas) if (d.delta > 0n && familyOf(s.driver, n) === null && !isTraffic(s.driver, n) && !n.startsWith('ethtool_')) out[n] = Number(d.delta);
  return out;
}
