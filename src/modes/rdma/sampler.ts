/** Periodic reads of RDMA port counters, turned into rates and per-interval deltas. */
import {
  type Counter, type Delta, type PortInfo, type Roots, counterDelta, deviceInfo, listDevices, readCounters,
} from '../../sysfs/rdma.js';

export interface PortSample {
  info: PortInfo;
  counters: Map<string, Counter>;
  /** each counter's first value plus every increase since: keeps rising across 32-bit wraps and resets */
  totals: Map<string, bigint>;
  /** seconds since the previous sample of this port; null on its first */
  dtS: number | null;
  deltas: Map<string, Delta>;
  /** bytes/s from port_{xmit,rcv}_data x 4 (4-byte units); absent when the device does not expose them */
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
        ports.push(this.samplePort(info, nowMs, events));
      }
    }
    for (const dev of this.known) if (!seen.has(dev)) events.push(`${dev}: device disappeared; its counters are no longer read`);
    for (const key of [...this.prev.keys()]) if (!seen.has(key.split('/')[0]!)) this.prev.delete(key);
    this.known = seen;
    return { ports, events };
  }

  private samplePort(info: PortInfo, nowMs: number, events: string[]): PortSample {
    const key = `${info.device}/${info.port}`;
    const counters = readCounters(this.roots, info);
    const p = this.prev.get(key);
    const totals = new Map<string, bigint>();
    const s: PortSample = { info, counters, totals, dtS: null, deltas: new Map(), notes: [] };
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
    const tx = pick(s.deltas, 'port_xmit_data', 'port_xmit_data_64');
    const rx = pick(s.deltas, 'port_rcv_data', 'port_rcv_data_64');
    const txp = pick(s.deltas, 'port_xmit_packets', 'port_xmit_packets_64');
    const rxp = pick(s.deltas, 'port_rcv_packets', 'port_rcv_packets_64');
    if (tx !== undefined) s.txBytesPerS = round(Number(tx * 4n) / dt);
    if (rx !== undefined) s.rxBytesPerS = round(Number(rx * 4n) / dt);
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

/* Counter families an operator acts on (names as the kernel has them). */
export const CONGESTION = ['np_cnp_sent', 'rp_cnp_handled', 'rp_cnp_ignored', 'np_ecn_marked_roce_packets', 'port_xmit_wait'];
export const RETRANS = [
  'out_of_sequence', 'packet_seq_err', 'local_ack_timeout_err', 'implied_nak_seq_err', 'rnr_nak_retry_err', 'roce_adp_retrans',
  'roce_adp_retrans_to', 'out_of_buffer', 'duplicate_request', 'req_transport_retries_exceeded', 'req_rnr_retries_exceeded',
];
export const LINK = ['link_downed', 'link_error_recovery', 'symbol_error', 'local_link_integrity_errors', 'excessive_buffer_overrun_errors'];
export const PORT_ERRORS = [
  'port_rcv_errors', 'port_rcv_remote_physical_errors', 'port_rcv_switch_relay_errors', 'port_xmit_discards',
  'port_xmit_constraint_errors', 'port_rcv_constraint_errors', 'VL15_dropped', 'resp_local_length_error', 'resp_cqe_error',
  'req_cqe_error', 'req_remote_invalid_request', 'req_remote_access_errors', 'resp_remote_access_errors', 'netdev_rx_errors',
  'netdev_tx_errors', 'netdev_rx_dropped', 'netdev_tx_dropped',
];
/** Counters whose movement is a problem (congestion is load, not an error). */
export const ERROR_COUNTERS = new Set([...RETRANS, ...LINK, ...PORT_ERRORS]);

/** Deltas of the named counters that the port exposes (absent ones stay absent). */
export function deltasOf(s: PortSample, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) {
    const d = s.deltas.get(n);
    if (d) out[n] = Number(d.delta);
  }
  return out;
}
