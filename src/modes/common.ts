/** What every mode shares: privilege check, ready file, stop on SIGINT/SIGTERM. */
import { readFileSync, writeFileSync } from 'node:fs';
import { privilegeError } from '../errors.js';
import { log } from '../log.js';

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

/** Written once everything is attached and the first reads are possible. */
export function signalReady(readyFile: string | undefined, what: string): void {
  log.info(`ready: ${what}`);
  if (readyFile) writeFileSync(readyFile, `${process.pid}\n`);
}

/** Resolves when SIGINT or SIGTERM arrives. */
export function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
