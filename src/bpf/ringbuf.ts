/**
 * BPF ring buffer consumer that reads the maps' mmap'ed pages directly: no native callback per
 * record (a koffi callback costs ~2 us; a DataView read ~0.1 us). Woken by each ring fd's readiness
 * in Node's event loop. One reader serves several rings.
 *
 * Layout (kernel/bpf/ringbuf.c): page 0 holds consumer_pos (writable by us); page 1 holds
 * producer_pos; the data area follows and is mapped twice in a row so that a record that wraps
 * around is contiguous. Each record: u32 len (bit 31 busy, bit 30 discard), u32 page offset, data,
 * padded to 8 bytes.
 *
 * The reader watches each ring's fd edge-triggered, through an epoll instance of its own that Node's
 * loop polls: it runs when the kernel wakes the ring's waiters (a program's BPF_RB_FORCE_WAKEUP at a
 * fill threshold, or a commit that finds the reader caught up), not whenever the ring holds data. A
 * level-triggered watch fires again as soon as the next record lands after a drain, so a reader
 * would chase the producer a few records a wakeup, and each wakeup costs more than the records.
 *
 * A drain hands over at most `budget` records, then yields to the event loop and goes on at the
 * next turn, so signals and timers run while a producer keeps up.
 *
 * A record still being written (busy) at the head stops the drain. The fd stays readable meanwhile
 * (the kernel reports data while producer_pos is ahead), so the fd's watch is paused, and the ring
 * looked at again a millisecond later, until a drain gets past it: no busy loop. A head that stays
 * busy for a second is reported once (the kernel cannot reserve past an unfinished record for long,
 * so what follows is counted by the programs as dropped).
 *
 * A ring whose records' destination is blocked (RingSource.blocked: stdout's reader behind) is not read
 * and its fd not watched until the destination calls back: the kernel then counts what does not fit,
 * rather than the reader queueing it in memory.
 */
import koffi from 'koffi';
import { log } from '../log.js';
import { IovBatch } from './iov.js';
import { type Ptr, MAP_FAILED, address, c, errno, strerror, view } from './native.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const EPOLLIN = 0x1;
const EPOLLET = 0x80000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CLOEXEC = 0o2000000;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;

export type RecordHandler = (dv: DataView, offset: number, len: number) => void;

/**
 * Takes a ring's records as they are: a batch of iovecs over the mapped pages (one a record, the
 * ring's 8-byte headers left out), written out before the reader hands the space back to the kernel.
 * No call per record.
 */
export type BatchWriter = (batch: IovBatch) => void;

/* The positions and record headers are read and written with Atomics (on the mapped memory, host byte
 * order): sequentially consistent, so neither the CPU nor V8's optimiser moves a header read before the
 * producer position it depends on. Plain DataView reads may be reordered or reused by the JIT, which
 * assumes an ArrayBuffer nobody else writes: under millions of records/s that read a stale header from
 * the previous lap, the consumer position ran past the producer's, and the kernel, seeing the ring
 * full, refused every record after (and the fd, readable, spun the reader). */

export interface RingSource {
  /** the ring buffer map's fd */
  fd: number;
  /** its size in bytes (max_entries: a power of two, a multiple of the page size) */
  size: number;
  name: string;
  /** each record, decoded by the caller; or */
  onRecord?: RecordHandler;
  /** the records' bytes, a batch at a time (a file of records the kernel wrote whole) */
  write?: BatchWriter;
  /**
   * True while the records' destination cannot take more (stdout's reader is behind): the ring is not
   * read, so the kernel counts what does not fit; `whenUnblocked` calls back once it can.
   */
  blocked?: () => boolean;
  whenUnblocked?: (cb: () => void) => void;
}

/** One mapped ring. */
class Ring {
  private readonly page: number;
  private readonly mask: number;
  private readonly consPtr: Ptr;
  private readonly prodPtr: Ptr;
  /** consumer_pos (page 0) */
  private readonly cons: BigUint64Array;
  /** producer_pos at index 0 of the producer page */
  private readonly prodPos: BigUint64Array;
  /** the producer page and the data area (twice) as 32-bit words: the record headers */
  private readonly words: Uint32Array;
  /** the same, for the record handlers */
  private readonly prod: DataView;
  /** the producer page's address, for iovecs over the data area */
  private readonly base: number;
  private batch: IovBatch | null = null;
  poller: ReturnType<typeof koffi.node.poll> | null = null;
  /** an epoll instance holding the ring's fd, edge-triggered: readable once a kernel wakeup, until consumed */
  readonly epfd: number;
  private readonly events = Buffer.alloc(4 * 16);
  /** the position where a busy head was first met, and when (performance.now()) */
  busyAt = -1;
  busySince = 0;
  /** its destination is blocked (RingSource.blocked): not read, its fd not watched, until it calls back */
  blocked = false;
  /** the head has been busy for over STUCK_MS (reported once) */
  stuck = false;
  /** its fd's watch is stopped while the head is busy */
  paused = false;

  constructor(readonly src: RingSource) {
    this.page = c.getpagesize() as number;
    this.mask = src.size - 1;
    this.consPtr = c.mmap(null, this.page, PROT_READ | PROT_WRITE, MAP_SHARED, src.fd, 0) as Ptr;
    if (this.consPtr === MAP_FAILED) throw new Error(`mmap of ring buffer ${src.name}: ${strerror(errno())}`);
    this.prodPtr = c.mmap(null, this.page + 2 * src.size, PROT_READ, MAP_SHARED, src.fd, this.page) as Ptr;
    if (this.prodPtr === MAP_FAILED) {
      const err = errno();
      c.munmap(this.consPtr, this.page);
      throw new Error(`mmap of ring buffer ${src.name}: ${strerror(err)}`);
    }
    this.cons = new BigUint64Array(view(this.consPtr, this.page), 0, 1);
    const data = view(this.prodPtr, this.page + 2 * src.size);
    this.prodPos = new BigUint64Array(data, 0, 1);
    this.words = new Uint32Array(data);
    this.prod = new DataView(data);
    this.base = Number(address(this.prodPtr));
    this.epfd = c.epollCreate1(EPOLL_CLOEXEC) as number;
    const ev = Buffer.alloc(16);
    ev.writeUInt32LE((EPOLLIN | EPOLLET) >>> 0, 0);
    if (this.epfd < 0 || (c.epollCtl(this.epfd, EPOLL_CTL_ADD, src.fd, ev) as number) < 0) {
      const err = errno();
      if (this.epfd >= 0) c.close(this.epfd);
      c.munmap(this.prodPtr, this.page + 2 * src.size);
      c.munmap(this.consPtr, this.page);
      throw new Error(`epoll watch of ring buffer ${src.name}: ${strerror(err)}`);
    }
  }

  /** Takes the wakeups that made the epoll instance readable (it stays readable until they are taken). */
  consumeWakeups(): void {
    c.epollWait(this.epfd, this.events, 4, 0);
  }

  private producerPos(): number {
    return Number(Atomics.load(this.prodPos, 0));
  }

  private consumerPos(): number {
    return Number(Atomics.load(this.cons, 0));
  }

  /** the header at byte offset `off` (a multiple of 8) */
  private header(off: number): number {
    return Atomics.load(this.words, off >>> 2);
  }

  /** Bytes written by the kernel and not yet consumed. */
  lag(): number {
    return Math.max(0, this.producerPos() - this.consumerPos());
  }

  /**
   * Hands over up to `budget` committed records, or what `deadline` (performance.now() ms) leaves time
   * for (a handler may block: stdout into a slow pipe); returns how many, and whether it stopped early.
   */
  drain(budget: number, deadline: number): { n: number; more: boolean; busy: boolean } {
    if (this.src.write) return this.drainWrite(this.src.write, budget, deadline);
    let cons = this.consumerPos();
    const start = cons;
    let n = 0;
    let more = false;
    outer: for (;;) {
      const prod = this.producerPos();
      if (cons >= prod) break;
      while (cons < prod) {
        if (n >= budget || ((n & 63) === 63 && (performance.now() >= deadline || this.src.blocked?.()))) {
          more = true;
          break outer;
        }
        const off = this.page + (cons & this.mask);
        const hdr = this.header(off);
        if (hdr & BUSY) {
          this.markBusy(cons);
          break outer;
        }
        const len = (hdr & ~(BUSY | DISCARD)) >>> 0;
        if (!(hdr & DISCARD)) {
          this.src.onRecord!(this.prod, off + HDR, len);
          n++;
        }
        cons += (len + HDR + 7) & ~7;
      }
      this.commit(cons);
    }
    if (cons !== start) this.commit(cons);
    return { n, more, busy: this.busyAt === cons };
  }

  /** The head at `cons` is a record the kernel is still writing: note where, and since when. */
  private markBusy(cons: number): void {
    if (this.busyAt !== cons) {
      this.busyAt = cons;
      this.busySince = performance.now();
    }
  }

  /**
   * The writer's drain: runs of committed records (at most IOV_MAX) as iovecs, one write each, the
   * space handed back once written. What a record costs here is a header load and an iovec.
   */
  private drainWrite(write: BatchWriter, budget: number, deadline: number): { n: number; more: boolean; busy: boolean } {
    const batch = (this.batch ??= new IovBatch());
    let cons = this.consumerPos();
    let n = 0;
    let busy = false;
    for (;;) {
      const prod = this.producerPos();
      if (cons >= prod) break;
      batch.reset();
      while (cons < prod && !batch.full()) {
        const off = this.page + (cons & this.mask);
        const hdr = this.header(off);
        if (hdr & BUSY) {
          this.markBusy(cons);
          busy = true;
          break;
        }
        const len = (hdr & ~(BUSY | DISCARD)) >>> 0;
        if (!(hdr & DISCARD)) batch.push(this.base + off + HDR, len);
        cons += (len + HDR + 7) & ~7;
      }
      if (batch.count) write(batch);
      n += batch.count;
      this.commit(cons);
      if (busy) break;
      if (n >= budget || performance.now() >= deadline || this.src.blocked?.()) return { n, more: cons < this.producerPos(), busy: false };
    }
    return { n, more: false, busy: busy && this.busyAt === cons };
  }

  private commit(pos: number): void {
    Atomics.store(this.cons, 0, BigInt(pos));
  }

  unmap(): void {
    c.close(this.epfd);
    c.munmap(this.prodPtr, this.page + 2 * this.src.size);
    c.munmap(this.consPtr, this.page);
  }
}

const STUCK_MS = 1000;

export class RingReader {
  private readonly rings: Ring[] = [];
  private closed = false;
  private scheduled = false;
  private started = false;

  private ticker: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;

  /**
   * `budget`: records handed over per ring, and `sliceMs` the time, before yielding to the event loop.
   * `tickMs`: also read this often, for programs that wake the reader only once enough waits (flow.bpf.c).
   */
  constructor(
    private readonly budget = 8192,
    private readonly sliceMs = 20,
    private readonly tickMs = 50,
  ) {}

  add(src: RingSource): this {
    const r = new Ring(src);
    this.rings.push(r);
    if (this.started) this.watch(r);
    return this;
  }

  /** Bytes written by the kernel and not yet read, over every ring. */
  lag(): number {
    return this.rings.reduce((s, r) => s + r.lag(), 0);
  }

  /** One budgeted pass over every ring; schedules another turn while records remain. Returns records read. */
  drain(): number {
    if (this.closed) return 0;
    let total = 0;
    let more = false;
    const deadline = performance.now() + this.sliceMs;
    for (const r of this.rings) {
      if (r.blocked || this.holdWhileBlocked(r)) continue;
      const d = r.drain(this.budget, deadline);
      total += d.n;
      if (this.holdWhileBlocked(r)) continue;
      more ||= d.more;
      this.pauseWhileBusy(r, d.busy);
    }
    if (more && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.drain();
      });
    }
    return total;
  }

  /** Reads until the rings are empty or `deadlineMs` (monotonic ms from performance.now()) passes. */
  drainUntil(deadlineMs: number): number {
    let total = 0;
    for (;;) {
      let more = false;
      for (const r of this.rings) {
        const d = r.drain(this.budget, deadlineMs);
        total += d.n;
        more ||= d.more;
      }
      if (!more || performance.now() >= deadlineMs) return total;
    }
  }

  /** A ring whose destination is blocked: its fd's watch stops until the destination calls back. Returns whether it is held. */
  private holdWhileBlocked(r: Ring): boolean {
    if (!this.started || this.closed || !r.src.blocked?.()) return false;
    r.blocked = true;
    if (r.poller && !r.paused) {
      r.poller.stop();
      r.paused = true;
    }
    r.src.whenUnblocked!(() => {
      r.blocked = false;
      if (this.closed) return;
      if (r.paused) {
        r.paused = false;
        r.poller!.start({ readable: true }, () => this.woken(r));
      }
      this.drain();
    });
    return true;
  }

  /** Called with a ring's head still busy after a drain: stop watching its fd (it would fire at once, again and again) until the head moves on. */
  private pauseWhileBusy(r: Ring, busy: boolean): void {
    if (!this.started || this.closed) return;
    if (busy) {
      if (r.poller && !r.paused) {
        r.poller.stop();
        r.paused = true;
      }
      // the writer usually finishes within microseconds: look again shortly
      this.retry ??= setTimeout(() => {
        this.retry = null;
        this.drain();
      }, 1);
      if (!r.stuck && performance.now() - r.busySince > STUCK_MS) {
        r.stuck = true;
        log.warn(
          `ring buffer ${r.src.name}: the kernel has left a record unfinished for over ${STUCK_MS / 1000} s; records behind it cannot be reserved and are counted as dropped`,
        );
      }
    } else if (r.paused) {
      r.paused = false;
      r.poller!.start({ readable: true }, () => this.woken(r));
    }
  }

  private watch(r: Ring): void {
    r.poller = koffi.node.poll(r.epfd, { readable: true }, () => this.woken(r));
  }

  /** The kernel woke a ring: take the wakeup, then read. */
  private woken(r: Ring): void {
    r.consumeWakeups();
    this.drain();
  }

  /** Drains whenever the kernel signals data, inside Node's event loop. */
  start(): void {
    this.started = true;
    for (const r of this.rings) this.watch(r);
    if (this.tickMs > 0) {
      this.ticker = setInterval(() => this.drain(), this.tickMs);
      this.ticker.unref();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.retry) clearTimeout(this.retry);
    const pollers = this.rings.map((r) => r.poller);
    for (const p of pollers) p?.stop();
    // Closing a poll handle from inside its own callback crashes; defer.
    setImmediate(() => {
      for (const p of pollers) p?.close();
      for (const r of this.rings) r.unmap();
    });
  }
}
