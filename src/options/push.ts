/** The push flags' values: where a push goes (--remote-write, --victoriametrics) and with what credentials. */
import { usageError } from '../errors.js';

export type Protocol = 'remote-write' | 'vm-import';

export interface PushTarget {
  /** the flag (or variable) that named it, for messages */
  flag: string;
  /** the metrics label: remote_write, victoriametrics */
  name: string;
  url: URL;
  protocol: Protocol;
}

export interface PushAuth {
  basic?: { user: string; password: string };
  bearer?: string;
}

/** --remote-write: an http(s) URL, taken as given (Prometheus: .../api/v1/write). */
export function parseRemoteWriteUrl(v: string, from: string): PushTarget {
  return { flag: from, name: 'remote_write', url: httpUrl(v, from, 'http(s)://host:port/api/v1/write'), protocol: 'remote-write' };
}

/**
 * --victoriametrics: the server's URL (its import API, /api/v1/import, is used), an import URL, or a
 * remote-write URL (.../api/v1/write, as VICTORIAMETRICS_REMOTE_WRITE held for the Go predecessor).
 */
export function parseVictoriaMetricsUrl(v: string, from: string): PushTarget {
  const url = httpUrl(v, from, 'http(s)://host:8428 (or a .../api/v1/import or .../api/v1/write URL)');
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/api/v1/import';
  return { flag: from, name: 'victoriametrics', url, protocol: url.pathname.endsWith('/write') ? 'remote-write' : 'vm-import' };
}

function httpUrl(v: string, from: string, form: string): URL {
  let url: URL;
  try {
    url = new URL(v.trim());
  } catch {
    throw usageError(`${from}: expected a URL like ${form}, got '${v}'`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) throw usageError(`${from}: expected a URL like ${form}, got '${v}'`);
  if (url.username || url.password) throw usageError(`${from}: credentials do not belong in the URL (it shows in ps and logs); use --push-basic-auth-file`);
  return url;
}
