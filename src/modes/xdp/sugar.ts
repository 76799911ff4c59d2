/**
 * --protocol/--src-ip/--dst-ip/--src-port/--dst-port as a tcpdump expression: one filter, compiled by
 * libpcap, selects what -p logs and -w writes. The flags look through up to two VLAN tags (802.1Q,
 * 802.1ad), as xtrace's own parser does; plain tcpdump expressions see only what `vlan` reaches.
 */
import { usageError } from '../../errors.js';
import { type Net, type Protocol, formatAddr } from '../../options/index.js';

export interface FilterFlags {
  filter?: string;
  protocols: Protocol[];
  srcNet?: Net;
  dstNet?: Net;
  srcPort?: number;
  dstPort?: number;
}

/** RoCE v2 rides UDP to this port; RoCE v1 has its own ethertype. */
const ROCE_V2 = 'udp dst port 4791';
const ROCE_V1 = 'ether proto 0x8915';

/** Each --protocol name as an expression; `udp` leaves RoCE v2 out, as the log's proto column does. */
const PROTOCOL_EXPR: Record<Exclude<Protocol, 'all' | 'roce'>, string> = {
  tcp: 'tcp',
  udp: `udp and not ${ROCE_V2}`,
  icmp: 'icmp',
  icmpv6: 'icmp6',
  roce_v1: ROCE_V1,
  roce_v2: ROCE_V2,
};

function protocolExpr(ps: Protocol[]): string | null {
  if (ps.includes('all')) return null;
  const names = [...new Set(ps.flatMap((p): Array<keyof typeof PROTOCOL_EXPR> => (p === 'roce' ? ['roce_v1', 'roce_v2'] : p === 'all' ? [] : [p])))];
  const parts = names.map((p) => PROTOCOL_EXPR[p]);
  return parts.length === 1 ? parts[0]! : parts.map((e) => `(${e})`).join(' or ');
}

/** `ip src net 10.0.0.0/8`, `ip6 dst host fd00::1`: only the IP header's own address, never ARP's. */
function netExpr(dir: 'src' | 'dst', n: Net): string {
  const bits = n.family === 4 ? n.prefix - 96 : n.prefix;
  const proto = n.family === 4 ? 'ip' : 'ip6';
  return bits === (n.family === 4 ? 32 : 128) ? `${proto} ${dir} host ${formatAddr(n.addr, n.family)}` : `${proto} ${dir} net ${formatAddr(n.addr, n.family)}/${bits}`;
}

/** The flags' expression for an untagged frame, or null when none narrows anything. */
export function flagsExpr(f: FilterFlags): string | null {
  const parts: string[] = [];
  const proto = protocolExpr(f.protocols);
  if (proto) parts.push(proto);
  if (f.srcNet) parts.push(netExpr('src', f.srcNet));
  if (f.dstNet) parts.push(netExpr('dst', f.dstNet));
  if (f.srcPort !== undefined) parts.push(`src port ${f.srcPort}`);
  if (f.dstPort !== undefined) parts.push(`dst port ${f.dstPort}`);
  if (!parts.length) return null;
  return parts.length === 1 ? parts[0]! : parts.map((e) => (/ or /.test(e) ? `(${e})` : e)).join(' and ');
}

/** Keywords after which libpcap reads the rest of the expression at other offsets (pcap-filter(7)). */
const SHIFTING = /\b(vlan|mpls|pppoes|geneve)\b/;

/** The flags' names that were given, for messages. */
export function flagNames(f: FilterFlags): string[] {
  const n: string[] = [];
  if (!f.protocols.includes('all')) n.push('--protocol');
  if (f.srcNet) n.push('--src-ip');
  if (f.dstNet) n.push('--dst-ip');
  if (f.srcPort !== undefined) n.push('--src-port');
  if (f.dstPort !== undefined) n.push('--dst-port');
  return n;
}

/**
 * The whole filter: the --filter expression (or the words after the options) and the flags' expression,
 * untagged, behind one tag, or behind two. The flags' part comes last: a `vlan` moves the offsets of
 * everything after it, so it must not come before the user's expression. Null when nothing filters.
 */
export function combinedFilter(f: FilterFlags): string | null {
  if (f.srcNet && f.dstNet && f.srcNet.family !== f.dstNet.family)
    throw usageError(`--src-ip, --dst-ip: ${f.srcNet.text} and ${f.dstNet.text} are of different IP versions, so no packet has both; give two of one version`);
  const sugar = flagsExpr(f);
  if (!sugar) return f.filter ?? null;
  if (f.filter && SHIFTING.test(f.filter))
    throw usageError(
      `${flagNames(f).join(', ')}: cannot be combined with a filter expression that uses vlan, mpls, pppoes or geneve (they move the offsets of what follows); write the whole filter as an expression`,
    );
  const s = `(${sugar})`;
  const tagged = `${s} or (vlan and (${s} or (vlan and ${s})))`;
  return f.filter ? `(${f.filter}) and (${tagged})` : tagged;
}
