/**
 * `xtrace xdp -p -o json`'s per-packet path: an event in the ring straight to its JSON line, the same
 * text as packetJson(record) (test/unit/packet.test.ts holds them equal), without the decoded event or
 * the record in between. What repeats from packet to packet (an IPv4 flow's interface-to-ports part,
 * interface names, protocols, TCP flags) is turned into text once and looked up after.
 */
import { formatAddr } from '../../options/index.js';
import { jstr } from '../../output/xdp.js';
import { type PacketRecord, etherTypeHex, formatMac, roceOpcodeName, tcpFlagNames } from '../../records/index.js';
import { type DecodedEvent, protoName } from './codec.js';
import { EVENT, KIND, XT_ICMP_NONE } from './layout.js';

const F = EVENT.fields;
/** IPv4 flows whose text is kept: 2^FLOW_BITS slots, a newer flow takes an older one's */
const FLOW_BITS = 12;
const FLOW_SLOTS = 1 << FLOW_BITS;

export type EventJson = (dv: DataView, off: number) => string;

/** `iso(monoNs)` turns bpf_ktime_get_ns() into the time of day; `ifname` names an ifindex. */
export function makeEventJson(iso: (monoNs: number) => string, ifname: (ifindex: number) => string): EventJson {
  const ifaces = new Map<number, string>();
  const protos = new Map<number, string>();
  const flags: string[] = [];
  const opcodes: string[] = [];

  const addr = (dv: DataView, off: number, family: number, kind: number): string =>
    kind === KIND.XT_KIND_ETHER ? formatMac(new Uint8Array(dv.buffer, dv.byteOffset + off, 6)) : formatAddr(new Uint8Array(dv.buffer, dv.byteOffset + off, 16), family);

  /** `"iface":...,"dport":N`, the part of a line a flow repeats */
  const tuple = (dv: DataView, off: number, kind: number, proto: number, family: number, ifindex: number): string => {
    let iface = ifaces.get(ifindex);
    if (iface === undefined) ifaces.set(ifindex, (iface = jstr(ifname(ifindex))));
    const pk = (kind << 8) | proto;
    let p = protos.get(pk);
    if (p === undefined) {
      const n = protoName(kind, proto);
      protos.set(pk, (p = typeof n === 'number' ? String(n) : jstr(n)));
    }
    return `"iface":${iface},"dir":"${dv.getUint8(off + F.dir) === 0 ? 'ingress' : 'egress'}","proto":${p},"src":"${addr(dv, off + F.src, family, kind)}","sport":${dv.getUint16(off + F.sport, true)},"dst":"${addr(dv, off + F.dst, family, kind)}","dport":${dv.getUint16(off + F.dport, true)}`;
  };
  // IPv4 flows' tuple text, direct-mapped by a hash of the five words that make it
  const keys = new Uint32Array(FLOW_SLOTS * 5);
  const texts: string[] = new Array<string>(FLOW_SLOTS).fill('');

  return (dv, off) => {
    const kind = dv.getUint8(off + F.kind);
    const proto = dv.getUint8(off + F.proto);
    const family = dv.getUint8(off + F.family);
    const ifindex = dv.getUint32(off + F.ifindex, true);
    let t: string;
    if (family === 4 && kind === 0) {
      const a = dv.getUint32(off + F.src + 12, true);
      const b = dv.getUint32(off + F.dst + 12, true);
      const ports = dv.getUint32(off + F.sport, true); // sport and dport
      const meta = dv.getUint8(off + F.dir) | (proto << 8);
      const h = Math.imul(a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(ports, 0x85ebca6b) ^ Math.imul(ifindex, 0xc2b2ae35) ^ meta, 0x27d4eb2f) >>> (32 - FLOW_BITS);
      const k = h * 5;
      if (keys[k] === a && keys[k + 1] === b && keys[k + 2] === ports && keys[k + 3] === ifindex && keys[k + 4] === meta && texts[h] !== '') t = texts[h]!;
      else {
        t = tuple(dv, off, kind, proto, family, ifindex);
        keys[k] = a;
        keys[k + 1] = b;
        keys[k + 2] = ports;
        keys[k + 3] = ifindex;
        keys[k + 4] = meta;
        texts[h] = t;
      }
    } else t = tuple(dv, off, kind, proto, family, ifindex);
    // nanoseconds as a double: exact to the microsecond for 285 years of uptime
    const ns = dv.getUint32(off + F.ts_ns + 4, true) * 4294967296 + dv.getUint32(off + F.ts_ns, true);
    let s = `{"type":"packet","ts":"${iso(ns)}",${t}`;
    const vlan = dv.getUint16(off + F.vlan, true);
    if (vlan) s += `,"vlan":${vlan}`;
    if (kind === 0 && (proto === 1 || proto === 58)) {
      const type = dv.getUint8(off + F.icmp_type);
      if (type !== XT_ICMP_NONE) s += `,"icmp_type":${type},"icmp_code":${dv.getUint8(off + F.icmp_code)}`;
    }
    s += `,"len":${dv.getUint32(off + F.len, true)},"segs":${dv.getUint16(off + F.segs, true) || 1}`;
    if (kind === 0 && proto === 6) {
      const b = dv.getUint8(off + F.tcp_flags);
      s += flags[b] ?? (flags[b] = `,"tcp_flags":${jstr(tcpFlagNames(b))}`);
    }
    if (kind === KIND.XT_KIND_ROCE_V1 || kind === KIND.XT_KIND_ROCE_V2) {
      const op = dv.getUint8(off + F.roce_opcode);
      s += `${opcodes[op] ?? (opcodes[op] = `,"roce_opcode":${jstr(roceOpcodeName(op))}`)},"roce_qp":${dv.getUint32(off + F.roce_qp, true)}`;
    }
    if (kind === KIND.XT_KIND_ETHER) s += `,"ethertype":"${etherTypeHex(dv.getUint16(off + F.ethertype, true))}"`;
    return `${s}}\n`;
  };
}

/** The packet record of a decoded event (-o table/text, and the reference the JSON path is tested against). */
export function packetRecord(e: DecodedEvent, ts: string, iface: string): PacketRecord {
  // built field by field in the record's order (no spreads: this runs per packet)
  const p = { type: 'packet', ts, iface, dir: e.dir, proto: e.proto, src: e.src, sport: e.sport, dst: e.dst, dport: e.dport } as PacketRecord;
  if (e.vlan) p.vlan = e.vlan;
  if (e.icmp) {
    p.icmp_type = e.icmp.type;
    p.icmp_code = e.icmp.code;
  }
  p.len = e.len;
  p.segs = e.segs;
  if (e.tcpFlags !== undefined) p.tcp_flags = e.tcpFlags;
  if (e.roceOpcode !== undefined) {
    p.roce_opcode = e.roceOpcode;
    p.roce_qp = e.roceQp;
  }
  if (e.ethertype !== undefined) p.ethertype = e.ethertype;
  return p;
}
