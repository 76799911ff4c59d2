/**
 * `xtrace probe`: what each mode needs of this kernel, libbpf and machine, probed (never inferred from a
 * version number), and the versions of everything involved. Exit 4 when a mode asked for cannot run.
 */
import { execa } from 'execa';
import { type ProbeResult, kernelRelease } from '../../bpf/probe.js';
import { featureError } from '../../errors.js';
import { columns } from '../../output/human.js';
import { version } from '../../version.js';
import { requireBpfPrivilege } from '../common.js';
import type { ModeNeeds } from '../needs.js';

async function clangVersion(): Promise<string> {
  try {
    const r = await execa(process.env.CLANG ?? 'clang', ['--version'], { timeout: 5000 });
    return /version\s+(\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split('\n')[0]!;
  } catch {
    return 'not installed (needed only by build-bpf)';
  }
}

async function libbpfVersionOr(): Promise<string> {
  try {
    return (await import('../../bpf/object.js')).libbpfVersion();
  } catch (e) {
    return `not loadable: ${(e as Error).message}`;
  }
}

/** `needs`: each mode's (the registry's entries, in their order); `mode`: --mode, when given. */
export async function runProbe(output: 'table' | 'json', needs: ReadonlyArray<{ mode: string; needs: ModeNeeds }>, mode?: string): Promise<void> {
  const modes = needs.filter((n) => !mode || n.mode === mode);
  if (modes.some((m) => m.needs.bpf)) requireBpfPrivilege(`probe${mode ? ` --mode ${mode}` : ''}`);
  const rows: Array<{ mode: string; feature: string; required: boolean; use: string } & ProbeResult> = [];
  for (const m of modes) for (const n of m.needs.needs) rows.push({ mode: m.mode, feature: n.feature, required: n.required, use: n.use, ...(await n.probe()) });
  const versions = { xtrace: version(), node: process.version, libbpf: await libbpfVersionOr(), clang: await clangVersion(), kernel: kernelRelease() };
  const verdict = modes.map(({ mode: m }) => {
    const missing = rows.filter((r) => r.mode === m && r.required && r.status !== 'supported').map((r) => r.feature);
    return { mode: m, ready: missing.length === 0, missing };
  });
  if (output === 'json') {
    const lines = [
      { type: 'versions', ...versions },
      ...rows.map((r) => ({ type: 'probe', mode: r.mode, feature: r.feature, status: r.status, required: r.required, detail: r.detail, use: r.use })),
      ...verdict.map((v) => ({ type: 'probe_mode', ...v })),
    ];
    process.stdout.write(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  } else {
    const out = [
      Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', '),
      '',
      columns(['MODE', 'FEATURE', 'STATUS', 'NEEDED', 'FOR', 'DETAIL'], rows.map((r) => [r.mode, r.feature, r.status, r.required ? 'yes' : 'optional', r.use, r.detail]), new Set()),
      '',
      ...verdict.map((v) => `${v.mode}: ${v.ready ? 'can run' : `cannot run here: ${v.missing.join(', ')} missing`}`),
    ];
    process.stdout.write(out.join('\n') + '\n');
  }
  if (mode && !verdict[0]!.ready) throw featureError(`${mode} cannot run here: ${verdict[0]!.missing.join(', ')} missing (xtrace probe shows why)`);
}
