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

/** Calls `cb` once stdout's reader has gone (at once when it already has). */
export function onStdoutClosed(cb: () => void): void {
  if (closed) cb();
  else waiters.push(cb);
}
