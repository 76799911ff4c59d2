/**
 * xdp-mode records as Prometheus metrics (xtrace_*). Flows are the ones a report shows (--top), which
 * bounds cardinality. One direction label everywhere, `direction`, in | out: at an interface, in is
 * what it received (the ingress hook) and out what it sent; for a watched IP, in is what was sent to
 * it and out what it sent.
 */
import type { Counters, FlowRecord, IfaceCounters, IpRecord } from '../records/index.js';
import { type Metric, eventsMetric } from './prometheus.js';

const direction = (d: FlowRecord['dir']): 'in' | 'out' => (d === 'ingress' ? 'in' : 'out');

export function flowMetrics(flows: FlowRecord[], ips: IpRecord[], c: Counters): Metric[] {
  const fl = (f: FlowRecord): Record<string, string | number> => ({
    iface: f.iface, direction: direction(f.dir), proto: String(f.proto), src: f.src, sport: f.sport, dst: f.dst, dport: f.dport,
  });
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
    { name: 'xtrace_flow_packets_total', help: 'Packets of the flows in the last report (--top)', type: 'counter', samples: flows.map((f) => ({ labels: fl(f), value: f.packets })) },
    { name: 'xtrace_flow_bytes_total', help: 'Bytes of the flows in the last report (--top)', type: 'counter', samples: flows.map((f) => ({ labels: fl(f), value: f.bytes })) },
  ];
}
