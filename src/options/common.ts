/** Option specs every mode shares: one declaration each, so the flags, help and errors are the same everywhere. */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { usageError } from '../errors.js';
import { parseRemoteWriteUrl, parseVictoriaMetricsUrl } from './push.js';
import { INTERVAL_MAX, INTERVAL_MIN, parseChoice, parseInteger, parseInterval, parseListen } from './index.js';
import { flag, optional, value } from './spec.js';

export const interval = (fallback = '5000') =>
  value('--interval <ms>', `report interval in ms, ${INTERVAL_MIN}..${INTERVAL_MAX}, or 500ms/5s/1m/1h`, (v, from) => parseInterval(v, from), {
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

/** A file's first line, for credentials (never argv: it shows in ps). */
function secretFile(v: string, from: string, holds: string): string {
  let text: string;
  try {
    text = readFileSync(v, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    throw usageError(`${from}: cannot read '${v}': ${why}; expected a file holding ${holds}`);
  }
  const line = text.split('\n')[0]!.trim();
  if (!line) throw usageError(`${from}: '${v}' is empty; expected a file holding ${holds}`);
  return line;
}

export function parseBasicAuthFile(v: string, from: string): { user: string; password: string } {
  const line = secretFile(v, from, 'user:password');
  const i = line.indexOf(':');
  if (i <= 0) throw usageError(`${from}: '${v}' does not hold user:password on its first line`);
  return { user: line.slice(0, i), password: line.slice(i + 1) };
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** name=value[,name=value...] (repeatable); names as Prometheus takes them, not __reserved. */
export function parseLabels(v: string, from: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',')) {
    const i = part.indexOf('=');
    const name = part.slice(0, i).trim();
    if (i <= 0 || !LABEL_NAME.test(name) || name.startsWith('__')) throw usageError(`${from}: expected name=value with a label name like host_ip (letters, digits, _), got '${part}'`);
    out[name] = part.slice(i + 1).trim();
  }
  return out;
}

/** VICTORIAMETRICS_REMOTE_WRITE counts only with VICTORIAMETRICS_ENABLED=true, as it did for the Go predecessor. */
function parseVictoriaMetrics(v: string, from: string) {
  if (from === 'VICTORIAMETRICS_REMOTE_WRITE' && !/^(1|true|yes|on)$/i.test(process.env.VICTORIAMETRICS_ENABLED ?? '')) return undefined;
  return parseVictoriaMetricsUrl(v, from);
}

/** Labels the Go predecessor's users set by environment: COLLECT_AGG and host_ip. */
function envLabels(): Record<string, string> {
  const out: Record<string, string> = {};
  if (process.env.COLLECT_AGG) out.collect_agg = process.env.COLLECT_AGG;
  const hostIp = process.env.host_ip || process.env.HOST_IP;
  if (hostIp) out.host_ip = hostIp;
  return out;
}

/** --metrics-listen and the pushes, on every mode. */
export const exportOptions = (example: string) => ({
  metricsListen: metricsListen(example),
  remoteWrite: optional('--remote-write <url>', 'push every interval by Prometheus remote-write, e.g. http://prometheus:9090/api/v1/write', parseRemoteWriteUrl, { env: ['XTRACE_REMOTE_WRITE'] }),
  victoriametrics: optional('--victoriametrics <url>', 'push every interval to VictoriaMetrics, e.g. http://vm:8428 (its import API; remote-write for a .../api/v1/write URL); VICTORIAMETRICS_REMOTE_WRITE counts when VICTORIAMETRICS_ENABLED=true', parseVictoriaMetrics, {
    env: ['XTRACE_VICTORIAMETRICS', 'VICTORIAMETRICS_REMOTE_WRITE'],
  }),
  pushLabels: value('--push-label <name=value>', 'a label on every pushed series (repeatable); COLLECT_AGG and host_ip in the environment become collect_agg and host_ip', (v, from) => ({ ...envLabels(), ...(v ? parseLabels(v, from) : {}) }), {
    default: '',
    repeatable: true,
  }),
  pushBasicAuthFile: optional('--push-basic-auth-file <file>', 'push with basic auth: the file holds user:password', parseBasicAuthFile),
  pushBearerTokenFile: optional('--push-bearer-token-file <file>', 'push with a bearer token: the file holds it', (v, from) => secretFile(v, from, 'a bearer token')),
  pushBufferSamples: value('--push-buffer <samples>', 'samples kept while a push target is away (oldest dropped first)', (v, from) => parseInteger(v, from, 1000, 100_000_000), { default: '1000000' }),
});

export const verbose = () => flag('-v, --verbose', 'debug logs, and the verifier log when a load fails');
