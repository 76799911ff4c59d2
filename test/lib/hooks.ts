/** What xtrace's `interfaces -o json` reports attached to an interface (in a namespace, or the root one). */
import { execFileSync } from 'node:child_process';
import type { Rec } from './cli.js';
import { CLI } from './env.js';

export interface Hooks {
  xdp: string; // none | native | generic | ...
  tcx: number; // tcx programs, ingress + egress
  tc: number; // classic cls_bpf filters, ingress + egress
}

export function attachedHooks(ifname: string, ns?: string): Hooks {
  const argv = [...(ns ? ['ip', 'netns', 'exec', ns] : []), process.execPath, CLI, 'interfaces', '-o', 'json'];
  const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const me = out.trim().split('\n').map((l) => JSON.parse(l) as Rec).find((i) => i.name === ifname);
  if (!me) throw new Error(`no interface ${ifname} in xtrace interfaces`);
  const n = (k: string): number => me[k] as number;
  return { xdp: me.xdp as string, tcx: n('tcx_ingress') + n('tcx_egress'), tc: n('tc_ingress') + n('tc_egress') };
}

/** Whether the kernel has a BPF link or program of this id (bpftool, independent of xtrace). */
export function bpftoolHas(what: 'link' | 'prog', id: number): boolean {
  const all = JSON.parse(execFileSync('bpftool', ['-j', what, 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }) || '[]') as Array<{ id: number }>;
  return all.some((x) => x.id === id);
}

let tcx: boolean | null = null;
/** The running kernel has tcx links (6.6+); without them xtrace's TC hooks are classic clsact filters. */
export function kernelHasTcx(): boolean {
  tcx ??= execFileSync('sh', ['-c', "bpftool btf dump file /sys/kernel/btf/vmlinux | grep -c \"STRUCT 'tcx_link'\" || true"], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim() !== '0';
  return tcx;
}
/** The kind xtrace's TC attachments have on this kernel: tcx/DIR, else tc/DIR. */
export const tcKind = (dir: 'ingress' | 'egress'): string => `${kernelHasTcx() ? 'tcx' : 'tc'}/${dir}`;
