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
import type { Attached } from '../../bpf/hooks.js';
import { findCgroup2 } from '../../host/procs.js';
import { STAGES } from '../stack/stages.js';

/** A cgroup v2 hierarchy: a directory with cgroup.controllers (an empty /sys/fs/cgroup is none). */
function probeCgroup2(): ProbeResult {
  const cg = findCgroup2();
  return cg.root ? { name: 'cgroup2', status: 'supported', detail: cg.root } : { name: 'cgroup2', status: 'missing', detail: cg.why };
}

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
 * The stack and limit modes' hook slots: the hook chooser itself runs (load, attach, detach at once),
 * so the choice shown is the one a run makes, with the kernel's reason for each refusal.
 */
type Choices = Array<{ slot: string; serves: string | null; kind: string | null; tried: Array<{ hook: string; outcome: string; reason: string }> }> | string;
const choices: Record<'stack' | 'limit', Choices | null> = { stack: null, limit: null };
async function chooseHooks(mode: 'stack' | 'limit'): Promise<void> {
  if (choices[mode] !== null) return;
  try {
    let a: Attached;
    if (mode === 'stack') {
      const m = await import('../stack/index.js');
      const { encodeStackConfig } = await import('../stack/codec.js');
      a = m.attachStages(encodeStackConfig({ rateLimit: 0, emit: false }));
    } else {
      // no process is limited: every packet passes untouched while the programs are attached
      const m = await import('../limit/index.js');
      const { encodeLimitConfig } = await import('../limit/codec.js');
      const { limitSlots } = await import('../limit/slots.js');
      const cg = findCgroup2();
      const config = encodeLimitConfig({ rate: 1, burstNs: 1n, markNs: 0n, eventLimit: 0, egress: true, congestionSignal: true, wholeCgroup: false, needLearn: true, quiet: true });
      a = m.attachLimit(limitSlots({ hook: 'auto', egress: true, enforceDir: cg.root, cgroupMissing: cg.why, pids: { root: cg.root, children: true } }), config);
    }
    for (const l of a.links) l.destroy();
    a.obj.close();
    choices[mode] = a.choices;
  } catch (e) {
    choices[mode] = (e as Error).message;
  }
}
const STAGE_NAMES = STAGES.map((s) => s.name);
const slotNeed = (mode: 'stack' | 'limit', name: string, required: boolean, use: string): Need => ({
  feature: `${mode === 'stack' ? 'stage' : 'hook'} ${name}`,
  required,
  use,
  probe: () => {
    const mine = choices[mode];
    if (typeof mine === 'string') return { name, status: 'error', detail: mine };
    const c = mine?.find((x) => x.slot === name);
    if (!c) return { name, status: 'error', detail: 'not probed' };
    const refused = c.tried.filter((t) => t.outcome === 'refused').map((t) => `${t.hook.split(':')[0]}: ${t.reason}`);
    const sees = mode === 'stack' ? ` (sees ${c.kind === 'netfilter' ? "xtrace's network namespace only" : 'every network namespace'})` : '';
    return c.serves
      ? { name, status: 'supported', detail: `${c.serves}${sees}${refused.length ? ` (refused: ${refused.join('; ')})` : ''}` }
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
      ...STAGE_NAMES.map((n) =>
        slotNeed('stack', n, n === 'netif_receive_skb', n === 'kfree_skb' ? 'drops with reasons' : 'a receive-path stage (fentry, kprobe, tracepoint, netfilter: first served wins)'),
      ),
    ],
  },
  limit: {
    bpf: true,
    needs: [
      { feature: 'map sk_storage', required: true, use: "a socket's owner, kept with the socket", probe: () => probeMapType('sk_storage') },
      { feature: 'map ringbuf', required: true, use: 'events', probe: () => probeMapType('ringbuf') },
      { feature: 'cgroup v2', required: false, use: 'cgroup_skb enforcement and socket tagging (netfilter serves otherwise, -p only)', probe: probeCgroup2 },
      slotNeed('limit', 'enforce', true, 'the token bucket (cgroup_skb, else netfilter)'),
      slotNeed('limit', 'sock_create', false, 'tag sockets at creation (-p)'),
      slotNeed('limit', 'first_send', false, 'tag sockets that existed before start at their first send (-p)'),
      slotNeed('limit', 'first_recv', false, 'the same at their first receive (-p)'),
      slotNeed('limit', 'process_exit', false, 'notice a limited process exit (a /proc check each interval serves otherwise)'),
      slotNeed('limit', 'process_fork', false, '--children'),
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
  for (const m of ['stack', 'limit'] as const) if (modes.includes(m)) await chooseHooks(m);
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
