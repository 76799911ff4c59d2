/**
 * The kernel's clock for BPF timestamps (bpf_ktime_get_ns: CLOCK_MONOTONIC) against the time of day
 * (CLOCK_REALTIME), to the nanosecond: each sample reads the monotonic clock, the real one, the
 * monotonic one again; the sample with the shortest bracket gives the offset (its midpoint's error is
 * at most half that bracket: tens of nanoseconds). Date.now() has whole milliseconds only.
 */
import { c } from './native.js';

const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const ts = Buffer.alloc(16);

function now(clock: number): bigint {
  c.clockGettime(clock, ts);
  return ts.readBigInt64LE(0) * 1_000_000_000n + ts.readBigInt64LE(8);
}

/** CLOCK_MONOTONIC, in ns (what bpf_ktime_get_ns() returns). */
export const monotonicNs = (): bigint => now(CLOCK_MONOTONIC);

/** CLOCK_REALTIME - CLOCK_MONOTONIC, in ns, from the best of `samples` bracketed readings; and that bracket. */
export function realtimeOffsetNs(samples = 16): { offsetNs: bigint; bracketNs: bigint } {
  let best: { offsetNs: bigint; bracketNs: bigint } | null = null;
  for (let i = 0; i < samples; i++) {
    const a = now(CLOCK_MONOTONIC);
    const real = now(CLOCK_REALTIME);
    const b = now(CLOCK_MONOTONIC);
    const bracket = b - a;
    if (!best || bracket < best.bracketNs) best = { offsetNs: real - (a + b) / 2n, bracketNs: bracket };
  }
  return best!;
}
