/** What every mode shares: privilege check, ready file, stdout that may close, stop on a signal. */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { realtimeOffsetNs } from '../bpf/clock.js';
import type { LinkInfo } from '../bpf/link.js';
import { EXIT, privilegeError } from '../errors.js';
import { fatal, log } from '../log.js';
import { onStdoutClosed } from '../output/stdout.js';

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;
const CAP_BPF = 39;

function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

/** Loading and attaching network programs needs CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN. */
export function requireBpfPrivilege(mode: string): void {
  const caps = effectiveCaps();
  const has = (c: number): boolean => (caps & (1n << BigInt(c))) !== 0n;
  if ((has(CAP_BPF) || has(CAP_SYS_ADMIN)) && has(CAP_NET_ADMIN)) return;
  throw privilegeError(`xtrace ${mode} needs root (CAP_BPF or CAP_SYS_ADMIN, and CAP_NET_ADMIN): run it with sudo`);
}

/**
 * Written once everything is attached and the first reads are possible: one JSON object with the pid
 * and the kernel ids of every link (so a script can check exactly what this run attached).
 */
export function signalReady(readyFile: string | undefined, what: string, links: LinkInfo[] = []): void {
  log.info(`ready: ${what}`);
  if (readyFile) writeFileSync(readyFile, JSON.stringify({ pid: process.pid, links }) + '\n');
}

export type StopReason = NodeJS.Signals | 'EPIPE';

/**
 * Resolves when SIGINT, SIGTERM or SIGHUP (a dropped ssh session) arrives, or stdout's reader goes away.
 * The handlers stay: a second signal while the mode detaches and writes its summary (`timeout` sends
 * two, an impatient user presses Ctrl-C twice) is noted and ignored, so the summary always comes; a
 * third exits at once, saying so (bpf_links go with the process; a classic TC filter would stay).
 */
export function untilStopped(): Promise<StopReason> {
  return stopSignals().stopped;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let lateSignals = 0;
/**
 * Between a run's end and the process's exit (the summary written, stdout drained) a signal that comes
 * late (the second of a pair sent 2 ms apart) must not kill the process by default action: it is
 * ignored; one after it exits at once, as a third signal does during a run. One handler, shared.
 */
function lateSignal(sig: NodeJS.Signals): void {
  if (++lateSignals === 1) return void log.debug(`${sig} after the run ended: ignored`);
  fatal(`${sig}: exiting at once`);
  process.exit(EXIT.FAILURE);
}

/** untilStopped's handlers, and a way to take them off (a run that has ended, in a process that goes on). */
export function stopSignals(): { stopped: Promise<StopReason>; dispose(): void } {
  for (const s of STOP_SIGNALS) process.off(s, lateSignal);
  lateSignals = 0;
  let signals = 0;
  let stopping = false;
  let onSignal: (sig: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<StopReason>((resolve) => {
    onSignal = (sig) => {
      signals++;
      if (!stopping) {
        stopping = true;
        resolve(sig);
      } else if (signals === 2) log.warn(`${sig} again while detaching: ignored, the summary follows (a third signal exits at once, without it)`);
      else {
        fatal(`${sig}: exiting at once, without a summary (every bpf_link closes with the process; xtrace interfaces shows any classic TC filter left)`);
        process.exit(EXIT.FAILURE);
      }
    };
    onStdoutClosed(() => {
      if (stopping) return;
      stopping = true;
      resolve('EPIPE');
    });
  });
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  return {
    stopped,
    dispose: () => {
      stopping = true;
      for (const s of STOP_SIGNALS) {
        // the late handler first: with no listener left for a moment, Node restores the default action,
        // and a signal in that moment would kill the process
        if (!process.listeners(s).includes(lateSignal)) process.on(s, lateSignal);
        process.off(s, onSignal);
      }
    },
  };
}

/** A built kernel object: $XTRACE_BPF_DIR/NAME, or build/bpf/NAME beside the app. */
export const defaultObject = (name: string): string =>
  process.env.XTRACE_BPF_DIR ? `${process.env.XTRACE_BPF_DIR}/${name}` : fileURLToPath(new URL(`../../../build/bpf/${name}`, import.meta.url));

/**
 * Turns bpf_ktime_get_ns() (CLOCK_MONOTONIC, as process.hrtime) into an ISO time of day, with
 * milliseconds or microseconds. `startNs`: the monotonic time it was set up. The offset to the epoch is
 * measured to the nanosecond (src/bpf/clock.ts: clock_gettime of both clocks, bracketed), and kept as
 * whole milliseconds plus a remainder so that no digit is lost to a double's precision; the date
 * string is built once per millisecond (per-packet records).
 */
export function wallClock(): { startNs: bigint; iso(monoNs: bigint | number, micro?: boolean): string } {
  const startNs = process.hrtime.bigint();
  const { offsetNs } = realtimeOffsetNs();
  const offMs = Number(offsetNs / 1_000_000n);
  const offRemNs = Number(offsetNs % 1_000_000n);
  let lastMs = -1;
  let lastIso = '';
  return {
    startNs,
    iso: (monoNs, micro = false) => {
      const t = Number(monoNs) + offRemNs; // monotonic ns fit a double exactly (2^53 ns: 104 days... of uptime, then to ~200 ns)
      const ms = Math.floor(t / 1e6);
      if (ms !== lastMs) {
        lastMs = ms;
        lastIso = new Date(ms + offMs).toISOString();
      }
      return micro ? `${lastIso.slice(0, 23)}${String(Math.floor(t / 1000) % 1000).padStart(3, '0')}Z` : lastIso;
    },
  };
}
