/** Typed, validated option parsers shared by every mode. Each error names the flag and the accepted form. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { usageError } from '../errors.js';
import { type Net, netContains, parseNet } from './ip.js';

export { type Net, formatAddr, parseNet } from './ip.js';

/** "[host]:port", ":9435", "0.0.0.0:9435", "[::1]:9435"; port 0 picks a free one. */
/** `[host]:port`; an empty host ('' in the result) means every address, IPv6 and IPv4. */
export function parseListen(v: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw usageError(`${flag}: expected [host]:port (e.g. :9435, 127.0.0.1:9435, [::]:9435), got '${v}'`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export const INTERVAL_MIN = 100;
export const INTERVAL_MAX = 3_600_000;

const UNIT_MS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds: "5000", "500ms", "5s", "1m", "1h"; 100 .. 3600000 (one hour). */
export function parseInterval(v: string, flag = '--interval'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2] ?? '']!) : NaN;
  if (!Number.isFinite(ms) || ms < INTERVAL_MIN || ms > INTERVAL_MAX)
    throw usageError(`${flag}: expected milliseconds from ${INTERVAL_MIN} to ${INTERVAL_MAX} (or 500ms, 5s, 1m, 1h), got '${v}'`);
  return ms;
}

export function parsePort(v: string, flag: string): number {
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw usageError(`${flag}: expected a port from 1 to 65535, got '${v}'`);
  return Number(v);
}

/** Non-negative integer within [min, max]. */
export function parseInteger(v: string, flag: string, min: number, max: number): number {
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < min || Number(v) > max) throw usageError(`${flag}: expected a whole number from ${min} to ${max}, got '${v}'`);
  return Number(v);
}

const SI: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };

/** A count or rate with an optional K/M/G suffix (decimal): "10000", "10k", "2.5M". */
export function parseRate(v: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)\s*$/i.exec(v);
  const n = m ? Math.round(Number(m[1]) * SI[m[2]!.toLowerCase()]!) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > max) {
    // only the suffixes a value within the bound can use
    const suffixes = ['k', 'm', 'g'].filter((u) => SI[u]! <= max).map((u) => u.toUpperCase());
    const form = suffixes.length ? `a number with an optional ${suffixes.join('/')} suffix (e.g. 10000, 10k${suffixes.includes('M') ? ', 2.5M' : ''})` : 'a whole number';
    throw usageError(`${flag}: expected ${form} up to ${max.toLocaleString('en-US')}, got '${v}'`);
  }
  return n;
}

/** Byte-rate units: K/M/G (and KiB/MiB/GiB) are binary, KB/MB/GB decimal, kbit/mbit/gbit bits. */
const BYTE_RATE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3,
  kb: 1e3, mb: 1e6, gb: 1e9,
  kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8,
};
export const BYTE_RATE_FORM = 'bytes per second: 100K, 1M, 2G (KiB/MiB/GiB per second), 10MB (10^6 bytes), 100mbit (bits)';
export const BYTE_RATE_MAX = 125e9; // 1 Tbit/s

/** A rate in bytes per second, "/s" allowed: "1M" = 1 MiB/s, "10MB" = 10^7 B/s, "100mbit" = 12.5e6 B/s. */
export function parseByteRate(v: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:\/s)?\s*$/i.exec(v);
  const unit = m ? BYTE_RATE_UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(n) || n < 1 || n > BYTE_RATE_MAX) throw usageError(`${flag}: expected a rate above zero in ${BYTE_RATE_FORM}, got '${v}'`);
  return n;
}

/** Seconds, fractions allowed, within [min, max]: "60", "0.5", "500ms". */
export function parseSeconds(v: string, flag: string, min: number, max: number): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(v);
  const s = m ? Number(m[1]) / (m[2] === 'ms' ? 1000 : 1) : NaN;
  if (!Number.isFinite(s) || s < min || s > max) throw usageError(`${flag}: expected seconds from ${min} to ${max} (e.g. 1, 0.5, 250ms), got '${v}'`);
  return s;
}

/**
 * Comma-separated IPs/CIDRs, duplicates dropped. Overlapping entries are refused: the kernel counts a
 * packet for the most specific entry only, so a CIDR beside a host inside it would under-report.
 */
export function parseNetList(v: string, flag: string): Net[] {
  const parts = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw usageError(`${flag}: expected IP addresses or CIDRs separated by commas (192.168.1.10,10.0.0.0/8,2001:db8::/32), got '${v}'`);
  const nets: Net[] = [];
  for (const n of parts.map((p) => parseSingleNet(p, flag))) {
    if (nets.some((o) => o.text === n.text)) continue;
    const clash = nets.find((o) => netContains(o, n.addr) || netContains(n, o.addr));
    if (clash) throw usageError(`${flag}: ${n.text} and ${clash.text} overlap; give each address once, either alone or through one CIDR`);
    nets.push(n);
  }
  return nets;
}

export function parseSingleNet(v: string, flag: string): Net {
  const n = parseNet(v);
  if (!n) throw usageError(`${flag}: expected an IP address or CIDR (192.168.1.10, 10.0.0.0/8, 2001:db8::1, 2001:db8::/32), got '${v}'`);
  return n;
}

export const PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmpv6', 'roce', 'roce_v1', 'roce_v2', 'all'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export function parseProtocols(v: string, flag = '--protocol'): Protocol[] {
  const parts = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const p of parts)
    if (!(PROTOCOLS as readonly string[]).includes(p)) throw usageError(`${flag}: expected ${PROTOCOLS.join('|')} (comma-separated for several), got '${v}'`);
  if (parts.length === 0) throw usageError(`${flag}: expected ${PROTOCOLS.join('|')}, got '${v}'`);
  return parts as Protocol[];
}

export function parseChoice<T extends string>(v: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v)) throw usageError(`${flag}: expected ${choices.join('|')}, got '${v}'`);
  return v as T;
}

export interface Iface {
  name: string;
  ifindex: number;
}

/**
 * The machine's interfaces. Entries that are not interfaces are left out: /sys/class/net/bonding_masters
 * (a file, where the bonding module is loaded), or one that vanished while being read.
 */
export function listInterfaces(sysfs = '/sys/class/net'): Iface[] {
  const out: Iface[] = [];
  for (const name of readdirSync(sysfs)) {
    let ifindex: number;
    try {
      ifindex = Number(readFileSync(`${sysfs}/${name}/ifindex`, 'utf8').trim());
    } catch {
      continue;
    }
    if (Number.isInteger(ifindex) && ifindex > 0) out.push({ name, ifindex });
  }
  return out.sort((a, b) => a.ifindex - b.ifindex);
}

/** Comma-separated interface names, each checked against the machine's interfaces. */
export function parseInterfaces(v: string, flag = '--iface', known: Iface[] = listInterfaces()): Iface[] {
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw usageError(`${flag}: expected interface names separated by commas (available: ${known.map((i) => i.name).join(', ')})`);
  const out: Iface[] = [];
  for (const n of names) {
    const i = known.find((k) => k.name === n);
    if (!i) throw usageError(`${flag}: no interface '${n}' (available: ${known.map((k) => k.name).join(', ')})`);
    if (!out.some((o) => o.name === n)) out.push(i);
  }
  return out;
}

/** The interface of the IPv4 default route, else the IPv6 one; null when there is none. */
export function defaultRouteInterface(procNet = '/proc/net'): string | null {
  try {
    for (const line of readFileSync(`${procNet}/route`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 7 && f[1] === '00000000' && f[7] === '00000000') return f[0]!;
    }
  } catch {
    /* no IPv4 */
  }
  try {
    for (const line of readFileSync(`${procNet}/ipv6_route`, 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 10 && f[0] === '0'.repeat(32) && f[1] === '00' && f[9] !== 'lo') return f[9]!;
    }
  } catch {
    /* no IPv6 */
  }
  return null;
}

/** A network namespace named on the command line: its file, its inode (what the kernel compares), and the name given. */
export interface NetnsArg {
  path: string;
  ino: number;
  label: string;
}

/** "1234" (a process's network namespace), "blue" (/run/netns/blue, as `ip netns` names them), or a path to a namespace file. */
export function parseNetns(v: string, flag: string): NetnsArg {
  const s = v.trim();
  const path = /^\d+$/.test(s) ? `/proc/${s}/ns/net` : s.startsWith('/') ? s : `/run/netns/${s}`;
  const label = /^\d+$/.test(s) ? `PID ${s}` : s;
  let ino: number;
  try {
    ino = statSync(path).ino;
  } catch {
    throw usageError(`${flag}: expected a PID, a name from ip netns list or a namespace file, got '${v}' (no ${path})`);
  }
  return { path, ino, label };
}
