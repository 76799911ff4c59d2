/**
 * Records go to stdout. When its reader goes away (`xtrace ... | head -1`), writes stop quietly and
 * the mode is told, so it detaches and exits as tcpdump does, with no stack trace.
 */
let closed = false;
const waiters: Array<() => void> = [];

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  if (closed) return;
  closed = true;
  for (const w of waiters.splice(0)) w();
});

export function out(s: string): void {
  if (!closed) process.stdout.write(s);
}

/**
 * Bytes queued for stdout (its reader is slower than the packets come) past which per-packet output
 * stops taking records from the kernel until the queue drains: the ring then fills and the kernel counts
 * what it cannot take as lost, rather than xtrace holding ever more in memory.
 */
const CONGESTED_BYTES = 4 << 20;

export function stdoutCongested(): boolean {
  return !closed && process.stdout.writableLength > CONGESTED_BYTES;
}

/** Waiting for stdout's queue to empty: called once, at the next 'drain' or when the reader goes. */
const drainWaiters: Array<() => void> = [];
const wakeDrained = (): void => {
  for (const w of drainWaiters.splice(0)) w();
};
process.stdout.on('drain', wakeDrained);
onStdoutClosed(wakeDrained);

/** Calls `cb` once stdout's queue has been written out (or its reader has gone). */
export function onStdoutDrained(cb: () => void): void {
  if (!stdoutCongested()) return cb();
  drainWaiters.push(cb);
}

/** Calls `cb` once stdout's reader has gone (at once when it already has). */
export function onStdoutClosed(cb: () => void): void {
  if (closed) cb();
  else waiters.push(cb);
}

/**
 * Per-packet lines gathered and written together: one write(2) per ring drain (setImmediate runs after
 * it) or per 512 lines, not one a line. `flush()` before any other write keeps the order.
 */
export function lineBatcher(write: (s: string) => void): { push(s: string): void; flush(): void } {
  let buf: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (buf.length) write(buf.join(''));
    buf = [];
  };
  return {
    push: (s) => {
      buf.push(s);
      if (buf.length >= 512) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
