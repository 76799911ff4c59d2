/**
 * BPF_PROG_TEST_RUN: runs a loaded program (found by its kernel id) on a packet, `repeat` times in the
 * kernel, as benchmarks drive a ring buffer's consumer harder than a link can.
 */
import { c, errno, lib, strerror, view } from './native.js';

export class TestRun {
  private readonly fd: number;
  private readonly data: bigint;
  private readonly opts = Buffer.alloc(80); // struct bpf_test_run_opts (libbpf >= 1.0)

  constructor(progId: number, packet: Uint8Array) {
    const fd = lib.progGetFdById(progId) as number;
    if (fd < 0) throw new Error(`program ${progId}: ${strerror(errno())}`);
    this.fd = fd;
    this.data = c.malloc(packet.length) as bigint;
    new Uint8Array(view(this.data, packet.length)).set(packet);
    this.opts.writeBigUInt64LE(80n, 0); // sz
    this.opts.writeBigUInt64LE(this.data, 8); // data_in
    this.opts.writeUInt32LE(packet.length, 24); // data_size_in
  }

  /** Runs the program `repeat` times; returns its last verdict and the kernel's mean ns per run. */
  run(repeat: number): { retval: number; nsPerRun: number } {
    this.opts.writeInt32LE(repeat, 60);
    const rc = lib.progTestRun(this.fd, this.opts) as number;
    if (rc < 0) throw new Error(`BPF_PROG_TEST_RUN: ${strerror(errno())}`);
    return { retval: this.opts.readUInt32LE(56), nsPerRun: this.opts.readUInt32LE(64) };
  }

  close(): void {
    c.close(this.fd);
    c.free(this.data);
  }
}
