/** Renderers for the xdp mode's records: table (default), json (one object a line), text. */
import type { Counters, FlowRecord, IpRecord, PacketRecord, XdpRecord } from '../records/index.js';
import { columns, humanBits, humanBytes, humanCount } from './human.js';
import { etherTypeName, protoLabel } from '../records/index.js';
import type { Sink } from '../records/index.js';
import { lineBatcher, out } from './stdout.js';

export const OUTPUTS = ['table', 'json', 'text'] as const;
export type OutputFormat = (typeof OUTPUTS)[number];


const hasPorts = (r: { proto: FlowRecord['proto'] }): boolean => r.proto === 'tcp' || r.proto === 'udp' || r.proto === 'roce_v2';
const endpoint = (addr: string, port: number, ports: boolean): string => {
  const a = addr.includes(':') ? `[${addr}]` : addr;
  return ports ? `${a}:${port}` : addr;
};

/** The one pair of direction words of the table and text outputs. */
export const dirWord = (d: FlowRecord['dir']): 'in' | 'out' => (d === 'ingress' ? 'in' : 'out');

/** `5 packets`, `1 packet` */
export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `ICMP 8/0`: the protocol with the ICMP type/code where the header was seen */
const protoCell = (r: { proto: FlowRecord['proto']; icmp_type?: number; icmp_code?: number }): string =>
  r.icmp_type === undefined ? protoLabel(r.proto) : `${protoLabel(r.proto)} ${r.icmp_type}/${r.icmp_code}`;

/** `12:34:56.789` (UTC, as the records' ts) */
const timeOfDay = (ts: string): string => ts.slice(11, 23);

/**
 * `12:34:56.789 eth0 in TCP 192.168.1.100:54321 -> 93.184.216.34:443 [SYN|ACK] (1248b)`, as tcpdump users
 * read a line: time, interface, direction first. VLAN, ICMP type/code, RoCE opcode and QP, and the
 * wire frames of a GSO packet are added where they apply.
 */
export function packetLine(p: PacketRecord): string {
  const ports = hasPorts(p);
  const parts = [timeOfDay(p.ts), p.iface, dirWord(p.dir)];
  if (p.vlan) parts.push(`vlan ${p.vlan}`);
  // a frame that is not IP: its EtherType by name (`ARP`, `802.3`, `ether 0x88b5`) between MAC addresses
  parts.push(p.ethertype !== undefined ? etherTypeName(parseInt(p.ethertype, 16)) : protoCell(p), endpoint(p.src, p.sport, ports), '->', endpoint(p.dst, p.dport, ports));
  if (p.tcp_flags !== undefined) parts.push(`[${p.tcp_flags || '.'}]`);
  if (p.roce_opcode) parts.push(p.roce_opcode, `qp=0x${(p.roce_qp ?? 0).toString(16).padStart(6, '0')}`);
  parts.push(p.segs > 1 ? `(${p.len}b, ${p.segs} segs)` : `(${p.len}b)`);
  return parts.join(' ');
}

export function ipBlock(r: IpRecord): string {
  const line = (label: string, pk: number, by: number): string => `${label}${plural(pk, 'packet')}, ${plural(by, 'byte')} (${humanBytes(by)})`;
  return [
    `=== traffic for ${r.ip}${r.container ? ` (${r.container})` : ''} ===`,
    line('in:    ', r.in_packets, r.in_bytes),
    line('out:   ', r.out_packets, r.out_bytes),
    line('total: ', r.in_packets + r.out_packets, r.in_bytes + r.out_bytes),
  ].join('\n');
}

export function flowLine(f: FlowRecord): string {
  const ports = hasPorts(f);
  const vlan = f.vlan ? ` vlan ${f.vlan}` : '';
  return `${f.iface} ${dirWord(f.dir)}${vlan} ${protoCell(f)} ${named(endpoint(f.src, f.sport, ports), f.src_container)} -> ${named(endpoint(f.dst, f.dport, ports), f.dst_container)} ${plural(f.packets, 'packet')} ${plural(f.bytes, 'byte')} ${f.pps_rate.toFixed(1)} pps ${humanBits(f.bps_rate)}`;
}

const named = (ep: string, container?: string): string => (container ? `${ep} (${container})` : ep);

export function flowTable(flows: FlowRecord[]): string {
  if (flows.length === 0) return '(no flows)';
  // A VLAN column only when some flow is tagged.
  const vlan = flows.some((f) => f.vlan);
  const rows = flows.map((f) => [
    f.iface,
    dirWord(f.dir),
    ...(vlan ? [f.vlan ? String(f.vlan) : '-'] : []),
    protoCell(f),
    named(endpoint(f.src, f.sport, hasPorts(f)), f.src_container),
    named(endpoint(f.dst, f.dport, hasPorts(f)), f.dst_container),
    String(f.packets),
    humanBytes(f.bytes),
    humanCount(f.pps_rate),
    humanBits(f.bps_rate),
  ]);
  const head = ['IFACE', 'DIR', ...(vlan ? ['VLAN'] : []), 'PROTO', 'SOURCE', 'DESTINATION', 'PACKETS', 'BYTES', 'PPS', 'RATE'];
  const n = head.length;
  return columns(head, rows, new Set([n - 4, n - 3, n - 2, n - 1]));
}

export function countersLine(c: Counters): string {
  const ev = c.events_sent || c.events_suppressed || c.events_lost ? `; events ${c.events_sent} sent, ${c.events_suppressed} suppressed by --rate-limit, ${c.events_lost} lost (ring buffer full)` : '';
  const odd = [c.truncated ? `${c.truncated} truncated` : '', c.fragments ? plural(c.fragments, 'fragment') : '', c.non_ip_packets ? `${c.non_ip_packets} non-IP` : ''].filter(Boolean);
  return `in ${plural(c.rx_packets, 'packet')} ${humanBytes(c.rx_bytes)}, out ${plural(c.tx_packets, 'packet')} ${humanBytes(c.tx_bytes)}${odd.length ? ` (${odd.join(', ')})` : ''}; ${plural(c.flows, 'flow')} (${c.flows_evicted} evicted)${ev}`;
}


/** Strings that JSON writes as they are, between quotes */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
export const jstr = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

/**
 * A packet record as the line JSON.stringify writes for it (same fields, same order: the order the
 * mode builds them in), about three times faster: the per-packet path of `-p -o json`.
 */
export function packetJson(p: PacketRecord): string {
  // ts (ISO time), dir and the addresses (as formatAddr writes them) never need escaping
  let s = `{"type":"packet","ts":"${p.ts}","iface":${jstr(p.iface)},"dir":"${p.dir}","proto":${typeof p.proto === 'number' ? p.proto : jstr(p.proto)},"src":"${p.src}","sport":${p.sport},"dst":"${p.dst}","dport":${p.dport}`;
  if (p.vlan !== undefined) s += `,"vlan":${p.vlan}`;
  if (p.icmp_type !== undefined) s += `,"icmp_type":${p.icmp_type}`;
  if (p.icmp_code !== undefined) s += `,"icmp_code":${p.icmp_code}`;
  s += `,"len":${p.len},"segs":${p.segs}`;
  if (p.tcp_flags !== undefined) s += `,"tcp_flags":${jstr(p.tcp_flags)}`;
  if (p.roce_opcode !== undefined) s += `,"roce_opcode":${jstr(p.roce_opcode)}`;
  if (p.roce_qp !== undefined) s += `,"roce_qp":${p.roce_qp}`;
  if (p.ethertype !== undefined) s += `,"ethertype":"${p.ethertype}"`;
  return `${s}}`;
}

/**
 * The xdp mode's records: an interval's (flows, watched IPs, counters) or the final one as a table,
 * text or JSON lines; packets as lines (with -o json, `line` takes them already written: the mode's
 * fast path).
 */
export function makeSink(format: OutputFormat, write: (s: string) => void = out): Sink<XdpRecord, PacketRecord> {
  const packets = lineBatcher(write);
  if (format === 'json')
    return {
      records: (rs) => (packets.flush(), write(rs.map((r) => JSON.stringify(r)).join('\n') + (rs.length ? '\n' : ''))),
      event: (p) => packets.push(packetJson(p) + '\n'),
      line: (line) => packets.push(line),
      flush: packets.flush,
    };
  const render = (rs: readonly XdpRecord[]): string => {
    const out: string[] = [];
    const flows = rs.filter((r): r is FlowRecord => r.type === 'flow');
    for (const r of rs) {
      if (r.type === 'stats') out.push(`--- ${r.ts} ${countersLine(r)}`);
      if (r.type === 'summary') {
        const gone = r.vanished.length ? `; gone while running: ${r.vanished.join(', ')}` : '';
        out.push(`=== summary after ${r.duration_s.toFixed(1)} s on ${r.interfaces.join(', ')} (${r.attached.join(', ')}${gone}) ===\n${countersLine(r)}`);
        if (flows.length) out.push('flows by total bytes; rates over the whole run:');
      }
    }
    if (format === 'table') out.push(flowTable(flows));
    else out.push(...flows.map(flowLine));
    for (const r of rs) if (r.type === 'ip') out.push(ipBlock(r));
    return out.join('\n') + '\n';
  };
  return {
    records: (rs) => (packets.flush(), write(render(rs))),
    event: (p) => packets.push(packetLine(p) + '\n'),
    flush: packets.flush,
  };
}
