/**
 * A seeded corpus of Ethernet frames for differential tests against tcpdump: IPv4 and IPv6 with TCP,
 * UDP, ICMP, RoCE v2, options, fragments and extension-header chains, behind 0-2 VLAN tags; ARP,
 * PPPoE, MPLS, LLDP, 802.3 LLC, RoCE v1, malformed IPv4 (IHL < 5) and frames cut short. The same
 * seed gives the same frames.
 */
import { bth, ethHeader, ipv4Header, udpHeader } from './peer.js';

/** mulberry32: a small, seeded PRNG */
export function prng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T; bytes(n: number): Buffer; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    int,
    pick: (xs) => xs[int(xs.length)]!,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
    chance: (p) => next() < p,
  };
}

type R = ReturnType<typeof prng>;

const MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:fb', '33:33:00:00:00:01'];
const V4 = ['10.0.0.1', '10.0.0.2', '192.168.1.7', '172.16.5.4', '224.0.0.251', '255.255.255.255', '8.8.8.8'];
const V6 = ['fd00::1', 'fd00::2', 'fe80::1', 'ff02::1', '2001:db8::7'];
const PORTS = [22, 53, 80, 443, 1000, 1500, 2000, 4791, 5201, 8080, 40000, 65535];

function v6addr(s: string): Buffer {
  const [head, tail] = s.split('::') as [string, string | undefined];
  const words = (x: string | undefined): number[] => (x ? x.split(':').filter(Boolean).map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

function ipv6Header(src: string, dst: string, next: number, payloadLen: number, r: R): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE((6 << 28) | (r.int(4) << 20) | r.int(0x100000), 0);
  h.writeUInt16BE(payloadLen, 4);
  h[6] = next;
  h[7] = r.pick([1, 64, 255]);
  v6addr(src).copy(h, 8);
  v6addr(dst).copy(h, 24);
  return h;
}

function tcpHeader(r: R): Buffer {
  const words = r.chance(0.7) ? 5 : 5 + r.int(11);
  const h = Buffer.alloc(words * 4);
  h.writeUInt16BE(r.pick(PORTS), 0);
  h.writeUInt16BE(r.pick(PORTS), 2);
  h.writeUInt32BE(r.int(2 ** 32) >>> 0, 4);
  h.writeUInt32BE(r.int(2 ** 32) >>> 0, 8);
  h[12] = words << 4;
  h[13] = r.pick([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x29, r.int(256)]);
  h.writeUInt16BE(r.int(65536), 14);
  if (words > 5) h.fill(0x01, 20);
  return h;
}

/** An L4 header and payload for IP protocol `proto`. */
function l4(proto: number, r: R, v6: boolean): Buffer {
  const payload = r.chance(0.2) ? Buffer.from('GET / HTTP/1.1\r\n') : r.bytes(r.pick([0, 1, 8, 30, 100, 400]));
  if (proto === 6) return Buffer.concat([tcpHeader(r), payload]);
  if (proto === 17) {
    const dport = r.chance(0.15) ? 4791 : r.pick(PORTS);
    const body = dport === 4791 ? Buffer.concat([bth(r.pick([0x04, 0x0a, 0x11, 0x81, 0x64]), r.int(1 << 24)), r.bytes(16)]) : payload;
    return Buffer.concat([udpHeader(r.pick(PORTS), dport, body.length), body]);
  }
  if (proto === 1 || proto === 58) {
    const types = v6 ? [128, 129, 1, 3, 133, 135, 136] : [0, 8, 3, 11, 5, 13];
    return Buffer.concat([Buffer.from([r.pick(types), r.int(4), 0, 0]), r.bytes(r.pick([0, 4, 28, 56]))]);
  }
  return payload;
}

function ipv4Frame(r: R): Buffer {
  const proto = r.pick([6, 6, 17, 17, 1, 47, 2, 132]);
  const body = l4(proto, r, false);
  const frag = r.chance(0.1);
  const ihl = r.chance(0.15) ? 6 + r.int(10) : 5;
  const h = ipv4Header(r.pick(V4), r.pick(V4), proto, body.length, { ihlWords: ihl, mf: frag && r.chance(0.5), fragOffset8: frag && r.chance(0.6) ? 1 + r.int(200) : 0 });
  h[1] = r.int(256); // TOS
  h[8] = r.pick([1, 32, 63, 64, 128, 255]); // TTL
  return Buffer.concat([h, body]);
}

/** IPv6 with 0-4 extension headers (hop-by-hop, routing, destination options, fragment, AH) before L4. */
function ipv6Frame(r: R): Buffer {
  const proto = r.pick([6, 17, 58, 59]);
  let next = proto;
  let rest = l4(proto, r, true);
  const n = r.pick([0, 0, 1, 1, 2, 3, 4]);
  for (let i = 0; i < n; i++) {
    const type = r.pick([0, 43, 60, 44, 51]);
    let ext: Buffer;
    if (type === 44) {
      ext = Buffer.alloc(8);
      ext.writeUInt16BE(r.chance(0.5) ? 0 : (1 + r.int(100)) << 3, 2);
      ext.writeUInt32BE(r.int(2 ** 32) >>> 0, 4);
    } else if (type === 51) {
      const len = r.int(3); // (len + 2) 32-bit words
      ext = Buffer.alloc((len + 2) * 4);
      ext[1] = len;
    } else {
      const len = r.int(3); // (len + 1) 8-byte units
      ext = Buffer.alloc((len + 1) * 8);
      ext[1] = len;
    }
    ext[0] = next;
    next = type;
    rest = Buffer.concat([ext, rest]);
  }
  return Buffer.concat([ipv6Header(r.pick(V6), r.pick(V6), next, rest.length, r), rest]);
}

/** The frame after its MAC addresses: EtherType (or 802.3 length) and payload. */
function afterMacs(r: R): Buffer {
  const kind = r.pick(['ip', 'ip', 'ip', 'ip6', 'ip6', 'vlan', 'qinq', 'arp', 'pppoes', 'mpls', 'lldp', 'llc', 'roce1', 'ihl', 'other'] as const);
  const type = (t: number): Buffer => Buffer.from([t >> 8, t & 0xff]);
  const tag = (): Buffer => Buffer.from([(r.int(8) << 5) | 0, r.pick([1, 100, 200, 4094])]);
  switch (kind) {
    case 'ip':
      return Buffer.concat([type(0x0800), ipv4Frame(r)]);
    case 'ip6':
      return Buffer.concat([type(0x86dd), ipv6Frame(r)]);
    case 'vlan':
      return Buffer.concat([type(0x8100), tag(), r.chance(0.5) ? Buffer.concat([type(0x0800), ipv4Frame(r)]) : Buffer.concat([type(0x86dd), ipv6Frame(r)])]);
    case 'qinq':
      return Buffer.concat([type(r.pick([0x88a8, 0x8100])), tag(), type(0x8100), tag(), type(0x0800), ipv4Frame(r)]);
    case 'arp': {
      const a = Buffer.alloc(28);
      a.writeUInt16BE(1, 0);
      a.writeUInt16BE(0x0800, 2);
      a[4] = 6;
      a[5] = 4;
      a.writeUInt16BE(r.pick([1, 2]), 6);
      r.bytes(6).copy(a, 8);
      Buffer.from(r.pick(V4).split('.').map(Number)).copy(a, 14);
      Buffer.from(r.pick(V4).split('.').map(Number)).copy(a, 24);
      return Buffer.concat([type(0x0806), a]);
    }
    case 'pppoes': {
      const ip = ipv4Frame(r);
      const h = Buffer.from([0x11, 0x00, 0, 1, 0, 0, 0x00, 0x21]);
      h.writeUInt16BE(ip.length + 2, 4);
      return Buffer.concat([type(0x8864), h, ip]);
    }
    case 'mpls': {
      const labels = 1 + r.int(3);
      const stack = Buffer.alloc(4 * labels);
      for (let i = 0; i < labels; i++) stack.writeUInt32BE(((16 + r.int(1000)) << 12) | (i === labels - 1 ? 0x100 : 0) | 64, 4 * i);
      return Buffer.concat([type(0x8847), stack, ipv4Frame(r)]);
    }
    case 'lldp':
      return Buffer.concat([type(0x88cc), Buffer.from([0x02, 0x07, 0x04]), r.bytes(6), Buffer.from([0x00, 0x00])]);
    case 'llc': {
      const body = Buffer.concat([Buffer.from([r.pick([0x42, 0xaa, 0xfe]), r.pick([0x42, 0xaa, 0xfe]), 0x03]), r.bytes(40)]);
      return Buffer.concat([type(body.length), body]);
    }
    case 'roce1': {
      const grh = Buffer.alloc(40);
      grh[6] = 0x1b;
      v6addr(r.pick(V6)).copy(grh, 8);
      v6addr(r.pick(V6)).copy(grh, 24);
      return Buffer.concat([type(0x8915), grh, bth(r.pick([0x04, 0x0a, 0x11]), r.int(1 << 24)), r.bytes(20)]);
    }
    case 'ihl': {
      const ip = ipv4Frame(r);
      ip[0] = 0x40 | r.int(5); // IHL 0..4: malformed
      return Buffer.concat([type(0x0800), ip]);
    }
    case 'other':
      return Buffer.concat([type(r.pick([0x88b5, 0x9000, 0x0842, 0x22f0])), r.bytes(r.pick([10, 46, 100]))]);
  }
}

/** `n` frames from `seed`: at least 14 bytes each (what a driver delivers), at most 1514. */
export function corpus(seed: number, n: number): Buffer[] {
  const r = prng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    let f = Buffer.concat([ethHeader(r.pick(MACS), r.pick(MACS.slice(0, 2))), afterMacs(r)]);
    if (r.chance(0.08)) f = f.subarray(0, 14 + r.int(Math.max(1, f.length - 14))); // cut short
    out.push(Buffer.from(f.subarray(0, 1514)));
  }
  return out;
}
