/**
 * `xtrace probe`: what each mode needs of this kernel, libbpf and machine, probed (never inferred from a
 * version number), and the versions of everything involved. Exit 4 when a mode asked for cannot run.
 */
import { execa } from 'execa';
import { type ProbeResult, kernelRelease, probeBtf, probeLinkType, probeMapType, probePath, probeProgType } from '../../bpf/probe.js';
import { featureError } from '../../errors.js';
import { columns } from '../../output/human.js';
import { version } from '../../version.js';
import { requireBpfPrivilege } from '../common.js';
import { STAGES } from '../stack/stages.js';

interface Need {
  feature: string;
  /** false: a fallback serves without it */
  required: boolean;
  /** what it is for, and what serves instead when it is missing */
  use: string;
  probe: () => ProbeResult;
}

const sysfsRoot = (): string => process.env.XTRACE_SYSFS_ROOT ?? '/sys';
const ib = (): Need => ({
  feature: 'sysfs infiniband',
  required: true,
  use: 'RDMA port counters',
  probe: () => probePath(`${sysfsRoot()}/class/infiniband`, `no ${sysfsRoot()}/class/infiniband (no RDMA driver loaded)`),
});

/**
 * The stack mode's stages: the hook chooser itself runs (load, attach, detach at once), so the
 * choice shown is the one a run makes, with the kernel's reason for each refusal.
 */
let stageChoices: Array<{ slot: string; serves: string | null; tried: Array<{ hook: string; outcome: string; reason: string }> }> | string | null = null;
async function stackStages(): Promise<void> {
  if (stageChoices !== null) return;
  try {
    const m = await import('../stack/index.js');
    const { encodeStackConfig } = await import('../stack/codec.js');
    const a = m.attachStages(encodeStackConfig({ rateLimit: 0, emit: false }));
    for (const l of a.links) l.destroy();
    a.obj.close();
    stageChoices = a.choices;
  } catch (e) {
    stageChoices = (e as Error).message;
  }
}
const STAGE_NAMES = STAGES.map((s) => s.name);
const stageNeed = (name: string): Need => ({
  feature: `stage ${name}`,
  required: name === 'netif_receive_skb',
  use: name === 'kfree_skb' ? 'drops with reasons' : 'a receive-path stage (fentry, kprobe, tracepoint, netfilter: first served wins)',
  probe: () => {
    if (typeof stageChoices === 'string') return { name, status: 'error', detail: stageChoices };
    const c = stageChoices?.find((x) => x.slot === name);
    if (!c) return { name, status: 'error', detail: 'not probed' };
    const refused = c.tried.filter((t) => t.outcome === 'refused').map((t) => `${t.hook.split(':')[0]}: ${t.reason}`);
    return c.serves
      ? { name, status: 'supported', detail: `${c.serves}${refused.length ? ` (refused: ${refused.join('; ')})` : ''}` }
      : { name, status: 'missing', detail: `unavailable: ${refused.join('; ')}` };
  },
});

/** Per mode, what it uses, in the order it uses it. */
const NEEDS: Record<string, { bpf: boolean; needs: Need[] }> = {
  xdp: {
    bpf: true,
    needs: [
      { feature: 'prog xdp', required: false, use: 'ingress on physical NICs (TC ingress serves otherwise: --ingress-hook tc)', probe: () => probeProgType('xdp') },
      { feature: 'link xdp', required: false, use: 'XDP as a link the kernel detaches when xtrace dies', probe: () => probeLinkType('xdp') },
      { feature: 'prog sched_cls', required: true, use: 'TC egress (and ingress on veth)', probe: () => probeProgType('sched_cls') },
      { feature: 'link tcx', required: false, use: 'TC as a link (a classic clsact filter serves otherwise)', probe: () => probeLinkType('tcx') },
      { feature: 'map lru_percpu_hash', required: true, use: 'the flow table', probe: () => probeMapType('lru_percpu_hash') },
      { feature: 'map percpu_array', required: true, use: 'counters', probe: () => probeMapType('percpu_array') },
      { feature: 'map lpm_trie', required: true, use: '--watch-ip', probe: () => probeMapType('lpm_trie') },
      { feature: 'map ringbuf', required: true, use: 'the packet log (-p)', probe: () => probeMapType('ringbuf') },
      { feature: 'btf', required: false, use: 'link probes and kernel type names', probe: probeBtf },
    ],
  },
  stack: {
    bpf: true,
    needs: [
      { feature: 'btf', required: true, use: 'CO-RE: kernel structs read at the running kernel\'s offsets; drop reason names', probe: probeBtf },
      { feature: 'map ringbuf', required: true, use: 'per-packet events', probe: () => probeMapType('ringbuf') },
      { feature: 'map percpu_array', required: true, use: 'per-stage counters and latency histograms', probe: () => probeMapType('percpu_array') },
      ...STAGE_NAMES.map(stageNeed),
    ],
  },
  rdma: { bpf: false, needs: [ib()] },
  nccl: { bpf: false, needs: [ib()] },
};

export const PROBE_MODES = Object.keys(NEEDS);

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

export async function runProbe(output: 'table' | 'json', mode?: string): Promise<void> {
  const modes = mode ? [mode] : PROBE_MODES;
  if (modes.some((m) => NEEDS[m]!.bpf)) requireBpfPrivilege(`probe${mode ? ` --mode ${mode}` : ''}`);
  if (modes.includes('stack')) await stackStages();
  const versions = { xtrace: version(), node: process.version, libbpf: await libbpfVersionOr(), clang: await clangVersion(), kernel: kernelRelease() };
  const rows = modes.flatMap((m) => NEEDS[m]!.needs.map((n) => ({ mode: m, feature: n.feature, required: n.required, use: n.use, ...n.probe() })));
  const verdict = modes.map((m) => {
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
