/**
 * BPF_PROG_TEST_RUN: runs a loaded program on a packet in the kernel, `repeat` times: benchmarks drive a
 * ring buffer's consumer harder than a link can, and tests run a program on frames no link could carry.
 */
import { c, errno, lib, strerror, view } from './native.js';

const MAX_PACKET = 16384;

export class TestRun {
  private readonly data: bigint;
  private readonly opts = Buffer.alloc(80); // struct bpf_test_run_opts (libbpf >= 1.0)
  private readonly bytes: Uint8Array;

  /** A program by its kernel id (its fd is this object's), or by a loaded program's fd (borrowed). */
  private constructor(
    private readonly fd: number,
    private readonly ownsFd: boolean,
  ) {
    this.data = c.malloc(MAX_PACKET) as bigint;
    this.bytes = new Uint8Array(view(this.data, MAX_PACKET));
    this.opts.writeBigUInt64LE(80n, 0); // sz
    this.opts.writeBigUInt64LE(this.data, 8); // data_in
  }

  static byId(progId: number, packet?: Uint8Array): TestRun {
    const fd = lib.progGetFdById(progId) as number;
    if (fd < 0) throw new Error(`program ${progId}: ${strerror(errno())}`);
    const t = new TestRun(fd, true);
    if (packet) t.packet(packet);
    return t;
  }

  static byFd(progFd: number): TestRun {
    return new TestRun(progFd, false);
  }

  /** The packet the next runs get (at most 16 KiB). */
  packet(p: Uint8Array): this {
    if (p.length > MAX_PACKET) throw new Error(`test run packet of ${p.length} bytes: at most ${MAX_PACKET}`);
    this.bytes.set(p);
    this.opts.writeUInt32LE(p.length, 24); // data_size_in
    return this;
  }

  /** Runs the program `repeat` times; returns its last verdict and the kernel's mean ns per run. */
  run(repeat = 1): { retval: number; nsPerRun: number } {
    this.opts.writeInt32LE(repeat, 60);
    this.opts.writeUInt32LE(0, 28); // data_size_out: the kernel wrote the last run's size there, and refuses a larger packet with it (ENOSPC)
    const rc = lib.progTestRun(this.fd, this.opts) as number;
    if (rc < 0) throw new Error(`BPF_PROG_TEST_RUN: ${strerror(errno())}`);
    return { retval: this.opts.readUInt32LE(56), nsPerRun: this.opts.readUInt32LE(64) };
  }

  close(): void {
    if (this.ownsFd) c.close(this.fd);
    c.free(this.data);
  }
}
