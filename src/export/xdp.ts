/**
 * xdp-mode records as Prometheus metrics (xtrace_*). Flow series are bounded: the busiest flows of the
 * interval (by bytes), at most --metrics-max-flows, the rest counted. One direction label everywhere, `direction`, in | out: at an interface, in is
 * what it received (the ingress hook) and out what it sent; for a watched IP, in is what was sent to
 * it and out what it sent.
 */
import type { Counters, FlowRecord, IfaceCounters, IpRecord } from '../records/index.js';
import { type Metric, eventsMetric } from './metric.js';

const direction = (d: FlowRecord['dir']): 'in' | 'out' => (d === 'ingress' ? 'in' : 'out');

const flowLabels = (f: FlowRecord): Record<string, string | number> => ({
  iface: f.iface, direction: direction(f.dir), proto: String(f.proto), src: f.src, sport: f.sport, dst: f.dst, dport: f.dport,
});

interface Kept {
  firstSeen: string;
  packets: number;
  bytes: number;
  /** what earlier lives of the flow carried (the kernel's LRU evicted it, and it came back from zero) */
  basePackets: number;
  baseBytes: number;
}

/**
 * Flow counters that stay monotonic: a flow the kernel evicted and created again (a new first_seen,
 * or a lower count) goes on from what it had reached. Remembered for flows exported at least once,
 * up to 4 x the cap (least recently seen forgotten first).
 */
export class FlowSeries {
  private kept = new Map<string, Kept>();
  private notExported = 0;

  constructor(private readonly max: number) {}

  /** `flows`: the whole table, busiest over the interval first. */
  select(flows: FlowRecord[]): { flows: FlowRecord[]; notExported: number } {
    const out: FlowRecord[] = [];
    flows.forEach((f, i) => {
      const key = JSON.stringify(flowLabels(f));
      let k = this.kept.get(key);
      if (!k && i >= this.max) return;
      if (k && (k.firstSeen !== f.first_seen || f.packets < k.packets || f.bytes < k.bytes)) {
        k.basePackets += k.packets;
        k.baseBytes += k.bytes;
      }
      k ??= { firstSeen: f.first_seen, packets: 0, bytes: 0, basePackets: 0, baseBytes: 0 };
      Object.assign(k, { firstSeen: f.first_seen, packets: f.packets, bytes: f.bytes });
      this.kept.delete(key);
      this.kept.set(key, k);
      if (i < this.max) out.push({ ...f, packets: k.basePackets + f.packets, bytes: k.baseBytes + f.bytes });
    });
    for (const key of this.kept.keys()) {
      if (this.kept.size <= 4 * this.max) break;
      this.kept.delete(key);
    }
    this.notExported += Math.max(0, flows.length - this.max);
    return { flows: out, notExported: this.notExported };
  }
}

export function flowMetrics(flows: FlowRecord[], ips: IpRecord[], c: Counters, notExported = 0): Metric[] {
  const fl = flowLabels;
  const ifaces = Object.entries(c.ifaces);
  const perIface = (k: keyof IfaceCounters) => ifaces.map(([iface, v]) => ({ labels: { iface }, value: v[k] }));
  const inOut = (rx: keyof IfaceCounters, tx: keyof IfaceCounters) =>
    ifaces.flatMap(([iface, v]) => [
      { labels: { iface, direction: 'in' }, value: v[rx] },
      { labels: { iface, direction: 'out' }, value: v[tx] },
    ]);
  const ipSamples = (what: 'packets' | 'bytes') =>
    ips.flatMap((r) => [
      { labels: { ip: r.ip, direction: 'in' }, value: what === 'packets' ? r.in_packets : r.in_bytes },
      { labels: { ip: r.ip, direction: 'out' }, value: what === 'packets' ? r.out_packets : r.out_bytes },
    ]);
  return [
    { name: 'xtrace_packets_total', help: 'Wire frames seen, by interface and direction', type: 'counter', samples: inOut('rx_packets', 'tx_packets') },
    { name: 'xtrace_bytes_total', help: 'Bytes seen (L2 frame length, no FCS), by interface and direction', type: 'counter', samples: inOut('rx_bytes', 'tx_bytes') },
    { name: 'xtrace_non_ip_packets_total', help: 'Frames that are neither IP nor RoCE v1', type: 'counter', samples: perIface('non_ip_packets') },
    { name: 'xtrace_fragments_total', help: 'Non-first IP fragments (no ports: counted under port 0)', type: 'counter', samples: perIface('fragments') },
    { name: 'xtrace_truncated_packets_total', help: 'Packets whose headers were cut short or malformed (counted, not parsed further)', type: 'counter', samples: perIface('truncated') },
    { name: 'xtrace_flows', help: 'Flows in the flow table', type: 'gauge', samples: [{ labels: {}, value: c.flows }] },
    { name: 'xtrace_flows_evicted_total', help: 'Flows evicted from the LRU flow table (raise --max-flows)', type: 'counter', samples: [{ labels: {}, value: c.flows_evicted }] },
    eventsMetric('xtrace_packet_log_events_total', 'Packet-log events', c),
    { name: 'xtrace_ip_packets_total', help: 'Packets to (in) and from (out) a watched IP or CIDR', type: 'counter', samples: ipSamples('packets') },
    { name: 'xtrace_ip_bytes_total', help: 'Bytes to (in) and from (out) a watched IP or CIDR', type: 'counter', samples: ipSamples('bytes') },
    { name: 'xtrace_flow_packets_total', help: 'Packets of a flow (the busiest of the interval, at most --metrics-max-flows)', type: 'counter', samples: flows.map((f) => ({ labels: fl(f), value: f.packets })) },
    { name: 'xtrace_flow_bytes_total', help: 'Bytes of a flow (L2 frame length; the busiest of the interval, at most --metrics-max-flows)', type: 'counter', samples: flows.map((f) => ({ labels: fl(f), value: f.bytes })) },
    { name: 'xtrace_flows_not_exported_total', help: 'Flow series left out, summed over intervals: flows beyond --metrics-max-flows', type: 'counter', samples: [{ labels: {}, value: notExported }] },
  ];
}
