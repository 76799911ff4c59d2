/**
 * pcapng (draft-ietf-opsawg-pcapng), the blocks a capture needs: a section header, one interface
 * description per interface (Ethernet, nanosecond timestamps), an enhanced packet block per packet
 * (direction in its flags) and, at the end, an interface statistics block per interface (packets the
 * filter accepted, packets the capture ring had no room for). Blocks are written whole: a writer
 * killed mid-run leaves a file that readers take up to its last block.
 *
 * The enhanced packet blocks are the kernel's (bpf/flow.bpf.c writes each one whole into the capture
 * ring): this writer only moves them, a batch of iovecs a writev. The blocks of its own (section,
 * interfaces, statistics) are built here, little-endian: the byte order the kernel writes in on the
 * machines xtrace runs on, which the section header declares.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { IovBatch } from '../bpf/iov.js';
import { usageError } from '../errors.js';
import { version } from '../version.js';

const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const ISB = 0x00000005;
const LINKTYPE_ETHERNET = 1;

const pad4 = (n: number): number => (n + 3) & ~3;

/** One option: code, length, value padded to 4 bytes. */
function option(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + pad4(value.length));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}
const END_OF_OPT = Buffer.alloc(4);
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

function block(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

export function sectionHeader(app = `xtrace ${version()}`): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(0x1a2b3c4d, 0);
  fixed.writeUInt16LE(1, 4);
  fixed.writeUInt16LE(0, 6);
  fixed.writeBigInt64LE(-1n, 8); // section length not given
  return block(SHB, Buffer.concat([fixed, option(4, Buffer.from(app)), END_OF_OPT]));
}

export function interfaceDescription(name: string, snaplen: number): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(LINKTYPE_ETHERNET, 0);
  fixed.writeUInt32LE(snaplen, 4);
  // if_name; if_tsresol 9: timestamps in nanoseconds
  return block(IDB, Buffer.concat([fixed, option(2, Buffer.from(name)), option(9, Buffer.from([9])), END_OF_OPT]));
}

export function interfaceStatistics(iface: number, tsNs: bigint, o: { startNs: bigint; accepted: number; dropped: number }): Buffer {
  const fixed = Buffer.alloc(12);
  fixed.writeUInt32LE(iface, 0);
  fixed.writeUInt32LE(Number(tsNs >> 32n), 4);
  fixed.writeUInt32LE(Number(tsNs & 0xffffffffn), 8);
  const ts = (ns: bigint): Buffer => Buffer.concat([u32(Number(ns >> 32n)), u32(Number(ns & 0xffffffffn))]);
  return block(
    ISB,
    Buffer.concat([
      fixed,
      option(2, ts(o.startNs)), // isb_starttime
      option(3, ts(tsNs)), // isb_endtime
      option(6, u64(BigInt(o.accepted))), // isb_filteraccept
      option(7, u64(BigInt(o.dropped))), // isb_osdrop: the capture ring had no room
      END_OF_OPT,
    ]),
  );
}

/** Writes all of `buf`, waiting out a non-blocking pipe that is full. */
function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  const wait = new Int32Array(new SharedArrayBuffer(4));
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(wait, 0, 0, 1);
    }
  }
}

/** A pcapng file (or stdout for "-"), written in whole blocks. */
export class PcapngWriter {
  private readonly fd: number;
  /** blocks of its own not yet written */
  private queued: Buffer[] = [];
  /** enhanced packet blocks written, and their bytes */
  packets = 0;
  bytes = 0;

  /** Opens (creates or truncates) the file before anything is attached: a path that cannot be written is bad input. */
  constructor(
    readonly path: string,
    private readonly flag: string,
  ) {
    if (path === '-') this.fd = 1;
    else
      try {
        this.fd = openSync(path, 'w', 0o644);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const why = err.code === 'ENOENT' ? 'no such directory' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.code === 'EROFS' ? 'read-only file system' : (err.code ?? err.message);
        throw usageError(`${flag}: cannot write '${path}': ${why}; expected a file path in a writable directory, or - for stdout`);
      }
  }

  /** Queues a whole block of its own; written at flush() (and before the next batch). */
  add(b: Buffer): void {
    this.queued.push(b);
  }

  /** Enhanced packet blocks the kernel wrote whole: iovecs over the capture ring, one writev (or a few, after a short write). */
  writeBatch(batch: IovBatch): void {
    this.flush();
    try {
      batch.writeTo(this.fd);
    } catch (e) {
      throw this.failure(e as NodeJS.ErrnoException);
    }
    this.packets += batch.count;
    this.bytes += batch.bytes;
  }

  /** Throws (ENOSPC, EPIPE, ...) with the file named; what was written stays whole up to the last block. */
  flush(): void {
    if (this.queued.length === 0) return;
    const buf = Buffer.concat(this.queued);
    this.queued = [];
    try {
      writeAll(this.fd, buf);
    } catch (e) {
      throw this.failure(e as NodeJS.ErrnoException);
    }
  }

  private failure(err: NodeJS.ErrnoException): WriteError {
    const why = err.code === 'ENOSPC' ? 'no space left on device' : err.code === 'EPIPE' ? 'the reader went away' : (err.code ?? err.message);
    return new WriteError(`${this.flag}: writing '${this.path === '-' ? 'stdout' : this.path}' failed: ${why} (${this.packets} packets written before)`, err.code);
  }

  private closed = false;

  /** Flushes and closes, once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flush();
    } finally {
      if (this.fd !== 1) closeSync(this.fd);
    }
  }
}

export class WriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}
