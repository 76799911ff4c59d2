/** Map reads and writes. Per-CPU maps are read in batches (one syscall per chunk, not per key). */
import type { BpfMap } from './object.js';
import { lib, strerror } from './native.js';

const ENOENT = 2;
const EINVAL = 22;
const ENOTSUPP = 524;
const EOPNOTSUPP = 95;

let cpus = 0;
export function possibleCpus(): number {
  if (!cpus) {
    const n = lib.numPossibleCpus() as number;
    if (n <= 0) throw new Error(`cannot count possible CPUs: ${strerror(n)}`);
    cpus = n;
  }
  return cpus;
}

/** Bytes one key occupies in a per-CPU value buffer: the value rounded up to 8, times the CPUs. */
export const perCpuStride = (valueSize: number): number => Math.ceil(valueSize / 8) * 8 * possibleCpus();

export type ChunkVisitor = (keys: Buffer, values: Buffer, count: number) => void;

/**
 * Visits every entry of a hash map in chunks of `chunk` entries. Values are per-CPU laid out
 * when `perCpu` (stride perCpuStride(valueSize)). Falls back to key iteration on kernels without
 * batch lookups (before 5.6).
 */
export class MapDumper {
  private readonly keys: Buffer;
  private readonly values: Buffer;
  private readonly stride: number;
  private readonly inBatch = Buffer.alloc(8);
  private readonly outBatch = Buffer.alloc(8);
  private batchWorks = true;

  constructor(
    private readonly map: BpfMap,
    perCpu: boolean,
    private readonly chunk = 4096,
  ) {
    this.stride = perCpu ? perCpuStride(map.valueSize) : map.valueSize;
    this.keys = Buffer.alloc(chunk * map.keySize);
    this.values = Buffer.alloc(chunk * this.stride);
  }

  get valueStride(): number {
    return this.stride;
  }

  dump(visit: ChunkVisitor): void {
    if (this.batchWorks) {
      const rc = this.dumpBatch(visit);
      if (rc === 0) return;
      if (rc !== -EINVAL && rc !== -ENOTSUPP && rc !== -EOPNOTSUPP) throw new Error(`reading map ${this.map.name}: ${strerror(rc)}`);
      this.batchWorks = false;
    }
    this.dumpIter(visit);
  }

  private dumpBatch(visit: ChunkVisitor): number {
    let first = true;
    for (;;) {
      const count = [this.chunk];
      const rc = lib.lookupBatch(this.map.fd, first ? null : this.inBatch, this.outBatch, this.keys, this.values, count, null) as number;
      const n = Number(count[0]);
      if (rc < 0 && rc !== -ENOENT) return rc;
      if (n > 0) visit(this.keys, this.values, n);
      if (rc === -ENOENT) return 0;
      this.outBatch.copy(this.inBatch);
      first = false;
    }
  }

  private dumpIter(visit: ChunkVisitor): void {
    const ks = this.map.keySize;
    let prev: Buffer | null = null;
    let n = 0;
    const key = Buffer.alloc(ks);
    for (;;) {
      const rc = lib.getNextKey(this.map.fd, prev, key) as number;
      if (rc < 0) break;
      prev = Buffer.from(key);
      if ((lib.lookupElem(this.map.fd, key, this.values.subarray(n * this.stride)) as number) === 0) {
        key.copy(this.keys, n * ks);
        n++;
      }
      if (n === this.chunk) {
        visit(this.keys, this.values, n);
        n = 0;
      }
    }
    if (n > 0) visit(this.keys, this.values, n);
  }
}

/** Looks up one key; per-CPU maps fill `out` with possibleCpus() values. Returns false when absent. */
export function lookup(map: BpfMap, key: Buffer, out: Buffer): boolean {
  const rc = lib.lookupElem(map.fd, key, out) as number;
  if (rc === -ENOENT) return false;
  if (rc < 0) throw new Error(`lookup in map ${map.name}: ${strerror(rc)}`);
  return true;
}

/** Deletes one key; false when it was not there. */
export function remove(map: BpfMap, key: Buffer): boolean {
  const rc = lib.deleteElem(map.fd, key) as number;
  if (rc === -ENOENT) return false;
  if (rc < 0) throw new Error(`delete from map ${map.name}: ${strerror(rc)}`);
  return true;
}

export function update(map: BpfMap, key: Buffer, value: Buffer): void {
  const rc = lib.updateElem(map.fd, key, value, 0) as number;
  if (rc < 0) throw new Error(`update of map ${map.name}: ${strerror(rc)}`);
}

/**
 * Sums u64 fields over the CPUs of one per-CPU value block (each CPU's value rounded up to 8 bytes):
 * one sum per offset, in the order given. The one place per-CPU counters are added up.
 */
export function sumPerCpu(values: Buffer, base: number, valueSize: number, offsets: readonly number[]): bigint[] {
  const step = Math.ceil(valueSize / 8) * 8;
  const sums = new Array<bigint>(offsets.length).fill(0n);
  for (let cpu = 0, n = possibleCpus(); cpu < n; cpu++) {
    const o = base + cpu * step;
    for (let i = 0; i < offsets.length; i++) sums[i]! += values.readBigUInt64LE(o + offsets[i]!);
  }
  return sums;
}

/** Sums one u64 field over the CPUs of one per-CPU value block. */
export const sumU64 = (values: Buffer, base: number, valueSize: number, offset: number): bigint => sumPerCpu(values, base, valueSize, [offset])[0]!;

/** The offsets of `count` consecutive u64 words from `first` (an array in a per-CPU value). */
export const u64Words = (first: number, count: number): number[] => Array.from({ length: count }, (_, i) => first + 8 * i);
