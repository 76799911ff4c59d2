/**
 * BPF ring buffer consumer that reads the map's mmap'ed pages directly: no native callback per
 * record (a koffi callback costs ~2 us; a DataView read ~0.1 us). Woken by the map fd's readiness
 * in Node's event loop.
 *
 * Layout (kernel/bpf/ringbuf.c): page 0 holds consumer_pos (writable by us); page 1 holds
 * producer_pos; the data area follows and is mapped twice in a row so that a record that wraps
 * around is contiguous. Each record: u32 len (bit 31 busy, bit 30 discard), u32 page offset, data,
 * padded to 8 bytes.
 */
import koffi from 'koffi';
import type { BpfMap } from './object.js';
import { type Ptr, MAP_FAILED, c, errno, strerror, view } from './native.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;

export type RecordHandler = (dv: DataView, offset: number, len: number) => void;

/* x86-64 is TSO: plain loads are acquire and plain stores release, which is all the protocol needs.
 * Elsewhere the position and header reads go through libatomic with explicit ordering. */
const TSO = process.arch === 'x64' || process.arch === 'ia32';
type Fn = (...a: unknown[]) => unknown;
let atomics: { load8: Fn; load4: Fn; store8: Fn } | null = null;
function atomicLib(): { load8: Fn; load4: Fn; store8: Fn } {
  if (!atomics) {
    const l = koffi.load('libatomic.so.1');
    atomics = {
      load8: l.func('uint64_t __atomic_load_8(const void *p, int order)') as Fn,
      load4: l.func('uint32_t __atomic_load_4(const void *p, int order)') as Fn,
      store8: l.func('void __atomic_store_8(void *p, uint64_t v, int order)') as Fn,
    };
  }
  return atomics;
}
const ACQUIRE = 2;
const RELEASE = 3;

export class RingReader {
  private readonly page: number;
  private readonly size: number;
  private readonly mask: number;
  private consPtr: Ptr;
  private prodPtr: Ptr;
  private readonly cons: DataView;
  private readonly prod: DataView;
  private poller: ReturnType<typeof koffi.node.poll> | null = null;
  private closed = false;

  constructor(
    private readonly map: BpfMap,
    private readonly onRecord: RecordHandler,
  ) {
    this.page = c.getpagesize() as number;
    this.size = map.maxEntries;
    this.mask = this.size - 1;
    this.consPtr = c.mmap(null, this.page, PROT_READ | PROT_WRITE, MAP_SHARED, map.fd, 0) as Ptr;
    if (this.consPtr === MAP_FAILED) throw new Error(`mmap of ring buffer ${map.name}: ${strerror(errno())}`);
    this.prodPtr = c.mmap(null, this.page + 2 * this.size, PROT_READ, MAP_SHARED, map.fd, this.page) as Ptr;
    if (this.prodPtr === MAP_FAILED) {
      const err = errno();
      c.munmap(this.consPtr, this.page);
      throw new Error(`mmap of ring buffer ${map.name}: ${strerror(err)}`);
    }
    this.cons = new DataView(view(this.consPtr, this.page));
    this.prod = new DataView(view(this.prodPtr, this.page + 2 * this.size));
  }

  private producerPos(): number {
    return TSO ? Number(this.prod.getBigUint64(0, true)) : Number(atomicLib().load8(this.prodPtr, ACQUIRE));
  }

  private header(off: number): number {
    return TSO ? this.prod.getUint32(off, true) : Number(atomicLib().load4(this.prodPtr + BigInt(off), ACQUIRE));
  }

  /** Reads every committed record; returns how many were handed to the handler. */
  drain(): number {
    if (this.closed) return 0;
    let cons = Number(this.cons.getBigUint64(0, true));
    const start = cons;
    let n = 0;
    for (;;) {
      const prod = this.producerPos();
      if (cons >= prod) break;
      while (cons < prod) {
        const off = this.page + (cons & this.mask);
        const hdr = this.header(off);
        if (hdr & BUSY) break;
        const len = (hdr & ~(BUSY | DISCARD)) >>> 0;
        if (!(hdr & DISCARD)) {
          this.onRecord(this.prod, off + HDR, len);
          n++;
        }
        cons += (len + HDR + 7) & ~7;
      }
      if (cons < prod) break; // a record still being written
      this.commit(cons);
    }
    if (cons !== start) this.commit(cons);
    return n;
  }

  private commit(pos: number): void {
    if (TSO) this.cons.setBigUint64(0, BigInt(pos), true);
    else atomicLib().store8(this.consPtr, BigInt(pos), RELEASE);
  }

  /** Drains whenever the kernel signals data, inside Node's event loop. */
  start(): void {
    this.poller = koffi.node.poll(this.map.fd, { readable: true }, () => this.drain());
  }

  close(): void {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    const p = this.poller;
    this.poller = null;
    const unmap = (): void => {
      p?.close();
      c.munmap(this.prodPtr, this.page + 2 * this.size);
      c.munmap(this.consPtr, this.page);
    };
    // Closing a poll handle from inside its own callback crashes; defer.
    if (p) {
      p.stop();
      setImmediate(unmap);
    } else unmap();
  }
}
