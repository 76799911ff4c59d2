/** Named, cached feature probes: supported / missing / error (never a kernel version comparison). */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { kernelBtfHas } from './btf.js';
import { lib, strerror } from './native.js';

export type ProbeStatus = 'supported' | 'missing' | 'error';
export interface ProbeResult {
  name: string;
  status: ProbeStatus;
  detail: string;
}

export const PROG_TYPES = {
  kprobe: 2, sched_cls: 3, tracepoint: 5, xdp: 6, cgroup_skb: 8, cgroup_sock: 9, raw_tracepoint: 17, tracing: 26, netfilter: 32,
} as const;
export const MAP_TYPES = { array: 2, percpu_array: 6, lru_percpu_hash: 10, lpm_trie: 11, sk_storage: 24, ringbuf: 27 } as const;

const cache = new Map<string, ProbeResult>();

function cached(name: string, run: () => Omit<ProbeResult, 'name'>): ProbeResult {
  let r = cache.get(name);
  if (!r) {
    r = { name, ...run() };
    cache.set(name, r);
  }
  return r;
}

const libbpfOutcome = (rc: number): Omit<ProbeResult, 'name'> =>
  rc === 1 ? { status: 'supported', detail: '' } : rc === 0 ? { status: 'missing', detail: 'the kernel refuses it' } : { status: 'error', detail: strerror(rc) };

/** Program and map type probes load something small: they need CAP_BPF or CAP_SYS_ADMIN. */
export function probeProgType(name: keyof typeof PROG_TYPES): ProbeResult {
  return cached(`prog:${name}`, () => libbpfOutcome(lib.probeProgType(PROG_TYPES[name], null) as number));
}

export function probeMapType(name: keyof typeof MAP_TYPES): ProbeResult {
  return cached(`map:${name}`, () => libbpfOutcome(lib.probeMapType(MAP_TYPES[name], null) as number));
}

/** BPF helpers by their id (include/uapi/linux/bpf.h's __BPF_FUNC_MAPPER order), as a program type may call them. */
export const HELPERS = { ringbuf_output: 130, ringbuf_reserve_dynptr: 198, loop: 181 } as const;

export function probeHelper(progType: keyof typeof PROG_TYPES, helper: keyof typeof HELPERS): ProbeResult {
  return cached(`helper:${progType}:${helper}`, () => libbpfOutcome(lib.probeHelper(PROG_TYPES[progType], HELPERS[helper], null) as number));
}

export function probeBtf(): ProbeResult {
  return cached('btf', () => (existsSync('/sys/kernel/btf/vmlinux') ? { status: 'supported', detail: '/sys/kernel/btf/vmlinux' } : { status: 'missing', detail: 'no /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF)' }));
}

/** A link type, by the kernel struct that implements it (bpf_xdp_link: 5.9; tcx_link: 6.6). */
export function probeLinkType(name: 'xdp' | 'tcx'): ProbeResult {
  const struct = name === 'xdp' ? 'bpf_xdp_link' : 'tcx_link';
  return cached(`link:${name}`, () => {
    const has = kernelBtfHas(struct, 'struct');
    if (has === null) return { status: 'error', detail: 'no kernel BTF: cannot tell' };
    return has ? { status: 'supported', detail: `kernel has ${struct}` } : { status: 'missing', detail: `kernel has no ${struct}` };
  });
}

/** kprobes need CONFIG_KPROBES; tracefs shows it as kprobe_events. */
export function probeKprobes(): ProbeResult {
  return cached('kprobes', () => {
    const dirs = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
    if (dirs.some((d) => existsSync(`${d}/kprobe_events`))) return { status: 'supported', detail: '' };
    if (!dirs.some((d) => existsSync(`${d}/events`))) return { status: 'error', detail: 'tracefs not mounted: cannot tell' };
    return { status: 'missing', detail: 'no kprobe_events in tracefs (CONFIG_KPROBES off)' };
  });
}

/** A directory the mode reads (sysfs trees). */
export function probePath(path: string, missing: string): ProbeResult {
  return cached(`path:${path}`, () => (existsSync(path) ? { status: 'supported', detail: path } : { status: 'missing', detail: missing }));
}

export function kernelRelease(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return release();
  }
}
