/**
 * A batch of struct iovec over native memory (the mapped pages of a BPF ring buffer), written with one
 * writev(2) per batch: the records go to the file as the kernel wrote them, with no copy and no
 * call per record in JavaScript (netsniff-ng's pcap_sg.c and DPDK's rte_pcapng do the same).
 *
 * An iovec is { void *iov_base; size_t iov_len; }: on the 64-bit little-endian machines xtrace runs
 * on (x86_64, arm64), four 32-bit words: base low, base high, length low, length high.
 */
import { c, errno, strerror } from './native.js';

/** IOV_MAX (limits.h, UIO_MAXIOV in the kernel): the most iovecs one writev takes */
export const IOV_MAX = 1024;
const TWO32 = 0x1_0000_0000;
const EINTR = 4;
const EAGAIN = 11;
/** errno names the callers tell apart */
const CODES: Record<number, string> = { 28: 'ENOSPC', 32: 'EPIPE', 5: 'EIO', 27: 'EFBIG', 122: 'EDQUOT', 9: 'EBADF' };

export class IovBatch {
  /** the iovecs, as the kernel reads them */
  private readonly buf = Buffer.alloc(IOV_MAX * 16);
  private readonly w = new Uint32Array(this.buf.buffer, this.buf.byteOffset, IOV_MAX * 4);
  private readonly waiter = new Int32Array(new SharedArrayBuffer(4));
  count = 0;
  bytes = 0;

  reset(): void {
    this.count = 0;
    this.bytes = 0;
  }

  full(): boolean {
    return this.count >= IOV_MAX;
  }

  /** `len` bytes at native address `addr` (a Number: user addresses are below 2^53) */
  push(addr: number, len: number): void {
    const i = this.count++ << 2;
    const w = this.w;
    w[i] = addr >>> 0;
    w[i + 1] = (addr / TWO32) >>> 0;
    w[i + 2] = len;
    w[i + 3] = 0;
    this.bytes += len;
  }

  /**
   * Writes every byte of the batch to `fd`: a short write goes on from where it stopped, a full
   * non-blocking pipe (stdout into a slow reader) is waited out a millisecond at a time. Throws an
   * Error with `code` (ENOSPC, EPIPE, ...) when the kernel refuses.
   */
  writeTo(fd: number): void {
    let first = 0;
    let left = this.bytes;
    while (left > 0) {
      const n = Number(c.writev(fd, first ? this.buf.subarray(first * 16) : this.buf, this.count - first));
      if (n < 0) {
        const err = errno();
        if (err === EINTR) continue;
        if (err === EAGAIN) {
          Atomics.wait(this.waiter, 0, 0, 1);
          continue;
        }
        throw Object.assign(new Error(strerror(err)), { code: CODES[err] ?? `errno ${err}` });
      }
      left -= n;
      // skip what went out whole; move the start of the one cut short
      let rest = n;
      while (rest > 0) {
        const i = first << 2;
        const len = this.w[i + 2]!;
        if (rest >= len) {
          rest -= len;
          first++;
          continue;
        }
        const addr = this.w[i]! + this.w[i + 1]! * TWO32 + rest;
        this.w[i] = addr >>> 0;
        this.w[i + 1] = (addr / TWO32) >>> 0;
        this.w[i + 2] = len - rest;
        rest = 0;
      }
    }
  }
}
