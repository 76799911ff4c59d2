/**
 * Reads pcap and pcapng files (what tcpdump -w and xtrace -w write), independently of xtrace's writer:
 * each packet's bytes, original length, timestamp (ns) and, for pcapng, its direction flag.
 */
import { readFileSync } from 'node:fs';

export interface Packet {
  data: Buffer;
  origLen: number;
  tsNs: bigint;
  /** pcapng epb_flags direction: in, out, or unknown */
  dir?: 'in' | 'out';
  iface: number;
}

export interface Capture {
  format: 'pcap' | 'pcapng';
  interfaces: Array<{ linktype: number; snaplen: number; name?: string; tsresol?: number }>;
  packets: Packet[];
  stats: Array<{ iface: number; filterAccept?: bigint; osDrop?: bigint }>;
}

function options(b: Buffer, off: number, end: number): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>();
  while (off + 4 <= end) {
    const code = b.readUInt16LE(off);
    const len = b.readUInt16LE(off + 2);
    if (code === 0) break;
    const list = out.get(code) ?? [];
    list.push(b.subarray(off + 4, off + 4 + len));
    out.set(code, list);
    off += 4 + ((len + 3) & ~3);
  }
  return out;
}

export function readCapture(path: string): Capture {
  const b = readFileSync(path);
  const magic = b.readUInt32LE(0);
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    const ns = magic === 0xa1b23c4d;
    const cap: Capture = { format: 'pcap', interfaces: [{ linktype: b.readUInt32LE(20), snaplen: b.readUInt32LE(16) }], packets: [], stats: [] };
    let off = 24;
    while (off + 16 <= b.length) {
      const sec = BigInt(b.readUInt32LE(off));
      const frac = BigInt(b.readUInt32LE(off + 4));
      const incl = b.readUInt32LE(off + 8);
      const orig = b.readUInt32LE(off + 12);
      if (off + 16 + incl > b.length) break;
      cap.packets.push({ data: b.subarray(off + 16, off + 16 + incl), origLen: orig, tsNs: sec * 1_000_000_000n + (ns ? frac : frac * 1000n), iface: 0 });
      off += 16 + incl;
    }
    return cap;
  }
  if (magic !== 0x0a0d0d0a) throw new Error(`${path}: neither pcap nor pcapng`);
  const cap: Capture = { format: 'pcapng', interfaces: [], packets: [], stats: [] };
  let off = 0;
  while (off + 12 <= b.length) {
    const type = b.readUInt32LE(off);
    const len = b.readUInt32LE(off + 4);
    if (len < 12 || off + len > b.length || b.readUInt32LE(off + len - 4) !== len) break; // cut short: stop at the last whole block
    const body = off + 8;
    const end = off + len - 4;
    if (type === 1) {
      const o = options(b, body + 8, end);
      cap.interfaces.push({ linktype: b.readUInt16LE(body), snaplen: b.readUInt32LE(body + 4), name: o.get(2)?.[0]?.toString(), tsresol: o.get(9)?.[0]?.[0] });
    } else if (type === 6) {
      const iface = b.readUInt32LE(body);
      const ts = (BigInt(b.readUInt32LE(body + 4)) << 32n) | BigInt(b.readUInt32LE(body + 8));
      const caplen = b.readUInt32LE(body + 12);
      const orig = b.readUInt32LE(body + 16);
      const o = options(b, body + 20 + ((caplen + 3) & ~3), end);
      const flags = o.get(2)?.[0]?.readUInt32LE(0);
      const resol = cap.interfaces[iface]?.tsresol ?? 6;
      const tsNs = resol === 9 ? ts : ts * 1000n;
      cap.packets.push({ data: b.subarray(body + 20, body + 20 + caplen), origLen: orig, tsNs, iface, dir: flags === undefined ? undefined : (flags & 3) === 1 ? 'in' : (flags & 3) === 2 ? 'out' : undefined });
    } else if (type === 5) {
      const o = options(b, body + 12, end);
      cap.stats.push({ iface: b.readUInt32LE(body), filterAccept: o.get(6)?.[0]?.readBigUInt64LE(0), osDrop: o.get(7)?.[0]?.readBigUInt64LE(0) });
    }
    off += len;
  }
  return cap;
}

/** A classic pcap file (Ethernet) of `frames`, frame i stamped i seconds after the epoch (tcpdump -tt then prints its index). */
export function pcapOf(frames: readonly Buffer[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const parts: Buffer[] = [head];
  frames.forEach((f, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(i, 0);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    parts.push(h, f);
  });
  return Buffer.concat(parts);
}
