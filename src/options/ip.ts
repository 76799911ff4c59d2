/** IP addresses and CIDRs in the 16-byte form the kernel programs use (IPv4 as ::ffff:a.b.c.d). */
import { isIPv4, isIPv6 } from 'node:net';

export interface Net {
  /** the text the user gave, normalised (a.b.c.d/nn or x::y/nn) */
  readonly text: string;
  readonly family: 4 | 6;
  /** 16 bytes, already masked to the prefix */
  readonly addr: Buffer;
  /** prefix over the 16-byte form: IPv4 /n is 96 + n */
  readonly prefix: number;
  /** what the user wrote, when masking changed it (host bits set: 10.0.0.5/24) */
  readonly given?: string;
}

export function v4Bytes(s: string): Buffer {
  const b = Buffer.alloc(16);
  b[10] = 0xff;
  b[11] = 0xff;
  s.split('.').forEach((p, i) => (b[12 + i] = Number(p)));
  return b;
}

export function v6Bytes(s: string): Buffer {
  const b = Buffer.alloc(16);
  let str = s;
  const tail: number[] = [];
  const m = /(\d+\.\d+\.\d+\.\d+)$/.exec(str);
  if (m) {
    const v4 = v4Bytes(m[1]!);
    tail.push((v4[12]! << 8) | v4[13]!, (v4[14]! << 8) | v4[15]!);
    str = str.slice(0, -m[1]!.length);
    if (str.endsWith(':') && !str.endsWith('::')) str = str.slice(0, -1);
  }
  const [head, rest] = str.includes('::') ? str.split('::') : [str, undefined];
  const hs = head ? head.split(':').filter((x) => x !== '') : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = hs.map((g) => parseInt(g, 16));
  const after = [...rs.map((g) => parseInt(g, 16)), ...tail];
  const zeros = 8 - groups.length - after.length;
  const all = [...groups, ...Array<number>(rest !== undefined ? zeros : 0).fill(0), ...after];
  all.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

const isMapped = (b: Buffer | Uint8Array): boolean => b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/** Formats a 16-byte address: dotted quad for IPv4-mapped, RFC 5952 compressed IPv6 otherwise. */
export function formatAddr(b: Uint8Array, family?: number): string {
  if (family === 4 || (family === undefined && isMapped(Buffer.from(b.buffer, b.byteOffset, 16))))
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function maskAddr(addr: Buffer, prefix: number): Buffer {
  const out = Buffer.from(addr);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** Parses "IP" or "IP/len" (IPv4 or IPv6); returns null when malformed. */
export function parseNet(input: string): Net | null {
  const s = input.trim();
  const [ip, len, extra] = s.split('/');
  if (!ip || extra !== undefined) return null;
  let family: 4 | 6;
  let addr: Buffer;
  if (isIPv4(ip)) {
    family = 4;
    addr = v4Bytes(ip);
  } else if (isIPv6(ip.replace(/%.*$/, '')) && !ip.includes('%')) {
    family = 6;
    addr = v6Bytes(ip);
  } else return null;
  const max = family === 4 ? 32 : 128;
  let plen = max;
  if (len !== undefined) {
    if (!/^\d{1,3}$/.test(len) || Number(len) > max) return null;
    plen = Number(len);
  }
  const prefix = family === 4 ? 96 + plen : plen;
  const masked = maskAddr(addr, prefix);
  const text = plen === max ? formatAddr(masked, family) : `${formatAddr(masked, family)}/${plen}`;
  return { text, family, addr: masked, prefix, ...(masked.equals(addr) ? {} : { given: s }) };
}

/** True when the 16-byte address lies in the net. */
export function netContains(net: Net, addr: Uint8Array): boolean {
  return maskAddr(Buffer.from(addr), net.prefix).equals(net.addr);
}
