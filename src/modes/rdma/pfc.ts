/**
 * PFC pauses and NIC discards of a rail's net device, from its driver statistics (`ethtool -S`, read
 * through the kernel's ethtool interface): what an operator checks first when a collective slows.
 * mlx5's names are understood (per priority pause frames and pause duration in microseconds, the
 * port's discards for lack of buffer); other drivers' statistics whose names speak of pauses or
 * discards are shown as they are (records/names.ts: ethtoolKind).
 */
import { ethtoolKind } from '../../records/index.js';

export interface PfcDeltas {
  /** pause frames over the interval, by direction and priority ("0".."7"), and link-level ("global") */
  pause: { rx: Record<string, number>; tx: Record<string, number> };
  /** microseconds paused over the interval, by direction and priority */
  pauseUs: { rx: Record<string, number>; tx: Record<string, number> };
  /** discards over the interval, by statistic name */
  discards: Record<string, number>;
  /** pause statistics not understood above (another driver's, mlx5's transitions), by name */
  otherPause: Record<string, number>;
}

/** The statistics a rail keeps of its net device: those of pauses and discards. */
export const pfcStatNames = (names: Iterable<string>): string[] => [...names].filter((n) => ethtoolKind(n) !== null);

/** Sorts the increases of a net device's statistics into pauses (frames, duration) and discards. */
export function pfcDeltas(deltas: ReadonlyMap<string, bigint>): PfcDeltas {
  const out: PfcDeltas = { pause: { rx: {}, tx: {} }, pauseUs: { rx: {}, tx: {} }, discards: {}, otherPause: {} };
  for (const [n, d] of deltas) {
    const k = ethtoolKind(n);
    const v = Number(d);
    if (k?.kind === 'pause') out.pause[k.direction][k.priority] = v;
    else if (k?.kind === 'pause_us') out.pauseUs[k.direction][k.priority] = v;
    else if (k?.kind === 'discard') out.discards[n] = v;
    else if (k?.kind === 'pause_other') out.otherPause[n] = v;
  }
  return out;
}

/**
 * A direction's pause frames: the sum over priorities where the driver counts them per priority (PFC);
 * else its link-level pauses. Not both: mlx5 keeps its global flow-control counts in priority 0's.
 */
export function pauseTotal(p: Record<string, number>): number {
  const prios = Object.entries(p).filter(([k]) => k !== 'global');
  return prios.length ? prios.reduce((a, [, v]) => a + v, 0) : p.global ?? 0;
}
