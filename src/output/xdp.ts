/** Renderers for the xdp mode's records: table (default), json (one object a line), text. */
import type { Counters, FlowRecord, IpRecord, PacketRecord, XdpRecord } from '../records/index.js';
import { columns, humanBits, humanBytes, humanCount } from './human.js';
import { out } from './stdout.js';

export const OUTPUTS = ['table', 'json', 'text'] as const;
export type OutputFormat = (typeof OUTPUTS)[number];

const PROTO_LABEL: Record<string, string> = { tcp: 'TCP', udp: 'UDP', icmp: 'ICMP', icmpv6: 'ICMPv6', roce_v1: 'RoCEv1', roce_v2: 'RoCEv2' };
export const protoLabel = (p: FlowRecord['proto']): string => (typeof p === 'number' ? `IP/${p}` : PROTO_LABEL[p] ?? p);

const hasPorts = (r: { proto: FlowRecord['proto'] }): boolean => r.proto === 'tcp' || r.proto === 'udp' || r.proto === 'roce_v2';
const endpoint = (addr: string, port: number, ports: boolean): string => {
  const a = addr.includes(':') ? `[${addr}]` : addr;
  return ports ? `${a}:${port}` : addr;
};

/** `TCP 192.168.1.100:54321 -> 93.184.216.34:443 (1248b)`; RoCE adds the opcode and QP. */
export function packetLine(p: PacketRecord): string {
  const ports = hasPorts(p);
  const roce = p.roce_opcode ? ` ${p.roce_opcode} qp=0x${(p.roce_qp ?? 0).toString(16).padStart(6, '0')}` : '';
  return `${protoLabel(p.proto)} ${endpoint(p.src, p.sport, ports)} -> ${endpoint(p.dst, p.dport, ports)}${roce} (${p.len}b)`;
}

export function ipBlock(r: IpRecord): string {
  const line = (label: string, pk: number, by: number): string => `${label}${pk} packets, ${by} bytes (${humanBytes(by)})`;
  return [
    `=== traffic for ${r.ip}${r.container ? ` (${r.container})` : ''} ===`,
    line('inbound:  ', r.in_packets, r.in_bytes),
    line('outbound: ', r.out_packets, r.out_bytes),
    line('total:    ', r.in_packets + r.out_packets, r.in_bytes + r.out_bytes),
  ].join('\n');
}

export function flowLine(f: FlowRecord): string {
  const ports = hasPorts(f);
  return `${f.iface} ${f.dir} ${protoLabel(f.proto)} ${named(endpoint(f.src, f.sport, ports), f.src_container)} -> ${named(endpoint(f.dst, f.dport, ports), f.dst_container)} ${f.packets} packets ${f.bytes} bytes ${f.pps_rate.toFixed(1)} pps ${humanBits(f.bps_rate)}`;
}

const named = (ep: string, container?: string): string => (container ? `${ep} (${container})` : ep);

export function flowTable(flows: FlowRecord[]): string {
  if (flows.length === 0) return '(no flows yet)';
  const rows = flows.map((f) => [
    f.iface,
    f.dir === 'ingress' ? 'in' : 'out',
    protoLabel(f.proto),
    named(endpoint(f.src, f.sport, hasPorts(f)), f.src_container),
    named(endpoint(f.dst, f.dport, hasPorts(f)), f.dst_container),
    String(f.packets),
    humanBytes(f.bytes),
    humanCount(f.pps_rate),
    humanBits(f.bps_rate),
  ]);
  return columns(['IFACE', 'DIR', 'PROTO', 'SOURCE', 'DESTINATION', 'PACKETS', 'BYTES', 'PPS', 'RATE'], rows, new Set([5, 6, 7, 8]));
}

export function countersLine(c: Counters): string {
  const ev = c.events_sent || c.events_suppressed || c.events_lost ? `; events ${c.events_sent} sent, ${c.events_suppressed} suppressed by --rate-limit, ${c.events_lost} lost (ring buffer full)` : '';
  return `rx ${c.rx_packets} packets ${humanBytes(c.rx_bytes)}, tx ${c.tx_packets} packets ${humanBytes(c.tx_bytes)}; flows ${c.flows} (${c.flows_evicted} evicted)${ev}`;
}

export interface Sink {
  /** one interval (or the final one): flows, watched IPs, counters */
  interval(records: XdpRecord[]): void;
  packet(p: PacketRecord): void;
}

export function makeSink(format: OutputFormat, write: (s: string) => void = out): Sink {
  if (format === 'json')
    return {
      interval: (rs) => write(rs.map((r) => JSON.stringify(r)).join('\n') + (rs.length ? '\n' : '')),
      packet: (p) => write(JSON.stringify(p) + '\n'),
    };
  const render = (rs: XdpRecord[]): string => {
    const out: string[] = [];
    const flows = rs.filter((r): r is FlowRecord => r.type === 'flow');
    for (const r of rs) {
      if (r.type === 'stats') out.push(`--- ${r.ts} ${countersLine(r)}`);
      if (r.type === 'summary')
        out.push(`=== summary after ${r.duration_s.toFixed(1)} s on ${r.interfaces.join(', ')} (${r.attached.join(', ')}) ===\n${countersLine(r)}`);
    }
    if (format === 'table') out.push(flowTable(flows));
    else out.push(...flows.map(flowLine));
    for (const r of rs) if (r.type === 'ip') out.push(ipBlock(r));
    return out.join('\n') + '\n';
  };
  return { interval: (rs) => write(render(rs)), packet: (p) => write(packetLine(p) + '\n') };
}
