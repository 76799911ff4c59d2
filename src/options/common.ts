/** Option specs every mode shares: one declaration each, so the flags, help and errors are the same everywhere. */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { usageError } from '../errors.js';
import { INTERVAL_MAX, INTERVAL_MIN, parseChoice, parseInterval, parseListen } from './index.js';
import { flag, optional, value } from './spec.js';

export const interval = (fallback = '5000') =>
  value('--interval <ms>', `report interval in ms, ${INTERVAL_MIN}..${INTERVAL_MAX}, or 500ms/5s/1m`, (v, from) => parseInterval(v, from), {
    env: ['INTERVAL'],
    default: fallback,
  });

export const output = <T extends string>(formats: readonly T[], help: string) =>
  value(`-o, --output <format>`, help, (v, from) => parseChoice(v, from, formats), { default: formats[0]! });

export const RECORD_OUTPUTS = ['table', 'json', 'text'] as const;
export const recordOutput = () => output(RECORD_OUTPUTS, 'table | json (one object a line) | text');

/** The file must be creatable before anything is attached: its directory exists and is writable. */
export function parseReadyFile(v: string, from: string): string {
  const dir = dirname(v);
  try {
    if (!statSync(dir).isDirectory()) throw new Error();
    accessSync(dir, constants.W_OK);
  } catch {
    throw usageError(`${from}: expected a path in an existing, writable directory, got '${v}'`);
  }
  try {
    if (statSync(v).isDirectory()) throw usageError(`${from}: expected a file path, got the directory '${v}'`);
  } catch (e) {
    if ((e as { exitCode?: number }).exitCode) throw e;
  }
  return v;
}

export const readyFile = () => optional('--ready-file <path>', 'written once everything is attached and the first reads are possible', parseReadyFile);

export const metricsListen = (example: string) =>
  optional('--metrics-listen <addr>', `serve Prometheus metrics at http://[host]:port/metrics, e.g. ${example}`, (v, from) => parseListen(v, from));

export const verbose = () => flag('-v, --verbose', 'debug logs, and the verifier log when a load fails');
