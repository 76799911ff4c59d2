/** Human-readable numbers shared by the renderers. */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 89432 -> "87.34 KiB"; below 1024: "512 B". */
export function humanBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(2)} ${UNITS[u]}`;
}

const SI = ['', 'k', 'M', 'G', 'T'];

/** 1_710_000 -> "1.71 Mbit/s" */
export function humanBits(bps: number): string {
  let v = bps;
  let u = 0;
  while (v >= 1000 && u < SI.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(2)} ${SI[u]}bit/s`;
}

export function humanCount(n: number): string {
  return n < 1000 ? n.toFixed(1) : n < 1e6 ? `${(n / 1e3).toFixed(1)}k` : `${(n / 1e6).toFixed(2)}M`;
}

/** Pads cells into aligned columns; numeric columns right-aligned. */
export function columns(header: string[], rows: string[][], right: Set<number>): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (right.has(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
