/**
 * DESIGN.md's arrows, checked on every import in src/: cli -> modes -> (bpf | sysfs | options), sysfs -> bpf, and
 * modes -> records <- (output | export); nothing imports a mode but the registry; the binding (src/bpf)
 * imports nothing of the app but its errors and logger. A file that adds an import running the wrong
 * way fails here with its name.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../lib/env.js';

const SRC = join(ROOT, 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/**
 * Where a file sits: 'cli', 'modes/registry', 'modes/<mode>', 'modes/shared', or its top folder ('bpf',
 * 'records', 'host': the readers of /proc and /sys, ...).
 */
function area(file: string): string {
  const rel = relative(SRC, file).replace(/\.[jt]s$/, '');
  const [top, second] = rel.split('/');
  if (!second) return rel; // cli, errors, log, version
  if (top === 'modes') {
    if (rel === 'modes/registry') return 'modes/registry';
    if (!rel.slice('modes/'.length).includes('/')) return 'modes/shared'; // modes/session.ts, modes/common.ts
    return `modes/${second}`;
  }
  return top!;
}

const BASE = ['errors', 'log', 'version'];
/** What each area may import, besides itself. */
const ALLOWED: Record<string, string[]> = {
  cli: ['modes/registry', 'options', ...BASE],
  'modes/registry': ['modes/*', 'options', 'docker', 'bpf', 'host', ...BASE],
  'modes/shared': ['bpf', 'host', 'options', 'records', 'output', 'export', ...BASE],
  'modes/*': ['modes/shared', 'bpf', 'host', 'sysfs', 'options', 'records', 'output', 'export', 'capture', 'docker', ...BASE],
  bpf: ['errors', 'log'],
  host: ['errors', 'log'],
  // the RDMA readers: sysfs files, and the kernel's RDMA netlink through the binding's netlink socket
  sysfs: ['bpf', 'host', 'errors', 'log'],
  capture: ['bpf', ...BASE],
  docker: ['host', 'options', 'errors', 'log'],
  options: ['errors', 'log'],
  records: [],
  output: ['records', 'errors', 'log'],
  export: ['records', 'options', ...BASE],
  errors: [],
  log: [],
  version: [],
  types: [],
};

const allowed = (from: string, to: string): boolean => {
  if (from === to) return true;
  const rules = ALLOWED[from.startsWith('modes/') && !['modes/registry', 'modes/shared'].includes(from) ? 'modes/*' : from] ?? [];
  return rules.some((r) => r === to || (r === 'modes/*' && to.startsWith('modes/') && to !== 'modes/registry'));
};

test('imports run the way DESIGN.md draws them', () => {
  const wrong: string[] = [];
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      const target = resolve(dirname(f), spec).replace(/\.js$/, '.ts');
      const [a, b] = [area(f), area(target)];
      if (!allowed(a, b)) wrong.push(`${relative(ROOT, f)} (${a}) imports ${spec} (${b})`);
    }
  }
  assert.deepEqual(wrong, []);
});
