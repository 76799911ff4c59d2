/**
 * -w: the packets ring into a pcapng file (or stdout), one interface block per -i interface. The kernel
 * writes each packet's Enhanced Packet Block whole (bpf/flow.bpf.c capture_epb); this side writes the
 * section and interface blocks first, keeps the kernel's clock offset current, moves the ring's records
 * to the file a batch at a time (src/bpf/ringbuf.ts: one writev per batch), and ends with the
 * statistics blocks.
 */
import { monotonicNs, realtimeOffsetNs } from '../../bpf/clock.js';
import type { RingSource } from '../../bpf/ringbuf.js';
import type { Iface } from '../../options/index.js';
import { PcapngWriter, WriteError, interfaceDescription, interfaceStatistics, sectionHeader } from '../../capture/pcapng.js';

/** how often, at most, the kernel's copy of the clock offset is measured again */
const CLOCK_EVERY_MS = 1000;

export class Capture {
  private readonly startNs: bigint;

  constructor(
    private readonly writer: PcapngWriter,
    private readonly ifaces: readonly Iface[],
  ) {
    this.startNs = monotonicNs() + realtimeOffsetNs().offsetNs;
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

  /** The value of the object's cap_clock map: CLOCK_REALTIME - CLOCK_MONOTONIC in ns, which the kernel adds to each block's bpf_ktime_get_ns(). */
  static clockValue(samples: number): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(realtimeOffsetNs(samples).offsetNs);
    return b;
  }

  /**
   * The packets ring as a source whose records go to the file as they are; a write that fails is handed
   * to `failed` (once: the run ends, nothing more is written). `setClock` puts a new clockValue in the
   * kernel's map: the realtime clock moves against the monotonic one (NTP slews it, a step sets it), so
   * the offset is measured again at a batch a second or more after the last, with no wakeup of its own.
   */
  ring(fd: number, size: number, failed: (e: WriteError) => void, setClock: (v: Buffer) => void): RingSource {
    let broken = false;
    let clockAt = performance.now();
    return {
      fd,
      size,
      name: 'packets',
      write: (batch) => {
        if (broken) return;
        const now = performance.now();
        if (now - clockAt >= CLOCK_EVERY_MS) {
          clockAt = now;
          setClock(Capture.clockValue(4));
        }
        try {
          this.writer.writeBatch(batch);
        } catch (e) {
          if (!(e instanceof WriteError)) throw e;
          broken = true;
          failed(e);
        }
      },
    };
  }

  flush(): void {
    this.writer.flush();
  }

  /** Statistics blocks (per interface: accepted by the filter, dropped for want of ring room), then close. */
  finish(perIface: (name: string) => { accepted: number; dropped: number }): void {
    const now = monotonicNs() + realtimeOffsetNs().offsetNs;
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
