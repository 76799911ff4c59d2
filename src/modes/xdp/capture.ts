/** -w: the packets ring's records into a pcapng file (or stdout), one interface block per -i interface. */
import { monotonicNs, realtimeOffsetNs } from '../../bpf/clock.js';
import type { Iface } from '../../options/index.js';
import { PcapngWriter, interfaceDescription, interfaceStatistics, sectionHeader } from '../../capture/pcapng.js';
import { CAP_HDR, DIR } from './layout.js';

export class Capture {
  private readonly index: Map<number, number>;
  private readonly offsetNs: bigint;
  private readonly startNs: bigint;
  /** offsetNs in 32-bit halves (the per-packet sum is done on numbers) */
  private readonly offHigh: number;
  private readonly offLow: number;
  /** the ring's whole mapping as a Buffer, for copies without a view per packet */
  private ringView: DataView | null = null;
  private ring: Buffer = Buffer.alloc(0);
  /** packets whose interface is not one of -i (cannot happen: the hooks are on those only) */
  stray = 0;

  constructor(
    private readonly writer: PcapngWriter,
    private readonly ifaces: readonly Iface[],
  ) {
    this.index = new Map(ifaces.map((i, n) => [i.ifindex, n]));
    // the kernel's monotonic clock to the time of day, to the nanosecond (Date.now() has milliseconds)
    this.offsetNs = realtimeOffsetNs().offsetNs;
    this.startNs = monotonicNs() + this.offsetNs;
    this.offHigh = Number(this.offsetNs >> 32n);
    this.offLow = Number(this.offsetNs & 0xffffffffn);
  }

  /** Opens the file and writes the section and interface blocks: a path that cannot be written fails here, before anything is attached. */
  static open(path: string, ifaces: readonly Iface[], snaplen: number): Capture {
    const w = new PcapngWriter(path, '-w/--write');
    w.add(sectionHeader());
    for (const i of ifaces) w.add(interfaceDescription(i.name, snaplen));
    w.flush();
    return new Capture(w, ifaces);
  }

  get packets(): number {
    return this.writer.packets;
  }

  /** A record of the packets ring: struct xt_cap_hdr, then caplen bytes. */
  onRecord(dv: DataView, off: number): void {
    const f = CAP_HDR.fields;
    const ifindex = dv.getUint32(off + f.ifindex, true);
    const len = dv.getUint32(off + f.len, true);
    const caplen = dv.getUint32(off + f.caplen, true);
    const dir = dv.getUint8(off + f.dir);
    const i = this.index.get(ifindex);
    if (i === undefined) {
      this.stray++;
      return;
    }
    if (this.ringView !== dv) {
      this.ringView = dv;
      this.ring = Buffer.from(dv.buffer, dv.byteOffset, dv.byteLength);
    }
    // the kernel's monotonic ns plus the offset to the epoch, carried by hand across the 32-bit halves
    const low = dv.getUint32(off + f.ts_ns, true) + this.offLow;
    const high = dv.getUint32(off + f.ts_ns + 4, true) + this.offHigh + (low >= 0x100000000 ? 1 : 0);
    this.writer.packetFrom(i, high >>> 0, low >>> 0, len, this.ring, off + CAP_HDR.size, caplen, dir === DIR.XT_DIR_INGRESS);
  }

  flush(): void {
    this.writer.flush();
  }

  /** Statistics blocks (per interface: accepted by the filter, dropped for want of ring room), then close. */
  finish(perIface: (name: string) => { accepted: number; dropped: number }): void {
    const now = monotonicNs() + this.offsetNs;
    this.ifaces.forEach((iface, n) => this.writer.add(interfaceStatistics(n, now, { startNs: this.startNs, ...perIface(iface.name) })));
    this.writer.close();
  }

  close(): void {
    try {
      this.writer.close();
    } catch {
      // already reported
    }
  }
}
