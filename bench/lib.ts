/** Shared by the benchmarks. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICK_NS = 1e9 / Number(execFileSync('getconf', ['CLK_TCK']).toString());

/** CPU time (user + system) a process has used, in ns (clock-tick resolution). */
export function cpuNs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_NS;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
