/**
 * IovBatch, the gather write -w's records leave by: over native memory (as the capture ring's pages
 * are), into a real pipe whose reader is slower than the writer, so that writev(2) comes back short and
 * with EAGAIN (the pipe is non-blocking on Node's side, as stdout into tshark is): every byte must come
 * out once, in order. And a reader gone is EPIPE, said as such.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { IOV_MAX, IovBatch } from '../../src/bpf/iov.js';
import { address, c, view } from '../../src/bpf/native.js';

const SIZE = 1 << 20;

test('a batch over native memory reaches a slow pipe whole and in order (short writes, EAGAIN)', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xt-iov-'));
  const mem = c.malloc(SIZE) as bigint;
  t.after(() => {
    c.free(mem);
    rmSync(dir, { recursive: true, force: true });
  });
  const bytes = new Uint8Array(view(mem, SIZE));
  for (let i = 0; i < SIZE; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
  const base = Number(address(mem));
  // IOV_MAX records of uneven lengths and gaps between them (the ring's headers), as the ring has them
  const batch = new IovBatch();
  const want: Buffer[] = [];
  let off = 0;
  for (let n = 0; n < IOV_MAX; n++) {
    const len = 44 + ((n * 131) % 900);
    off += 8;
    batch.push(base + off, len);
    want.push(Buffer.from(bytes.subarray(off, off + len)));
    off = (off + len + 7) & ~7;
  }
  assert.ok(batch.full());
  assert.ok(batch.bytes > 256 * 1024, 'more than a pipe holds, so writev comes back short');
  const out = join(dir, 'out');
  const outFd = openSync(out, 'w');
  // the reader: slow to start, so the pipe fills and the writer meets EAGAIN
  const reader = spawn('sh', ['-c', 'sleep 0.3; exec cat'], { stdio: ['pipe', outFd, 'inherit'] });
  t.after(() => reader.kill('SIGKILL'));
  closeSync(outFd);
  const fd = (reader.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  batch.writeTo(fd);
  reader.stdin!.end();
  await new Promise((r) => reader.on('close', r));
  assert.deepEqual(readFileSync(out), Buffer.concat(want));
});

test('a reader that has gone: EPIPE', { timeout: 30_000 }, async (t) => {
  const mem = c.malloc(4096) as bigint;
  t.after(() => c.free(mem));
  // the child closes its end of the pipe and lives on: the pipe has no reader
  const reader = spawn('sh', ['-c', 'exec 0<&-; echo closed; exec sleep 30'], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => reader.kill('SIGKILL'));
  await new Promise((r) => reader.stdout!.once('data', r));
  reader.stdin!.on('error', () => undefined);
  const batch = new IovBatch();
  batch.push(Number(address(mem)), 100);
  const fd = (reader.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  assert.throws(() => batch.writeTo(fd), (e: Error & { code?: string }) => e.code === 'EPIPE');
});
