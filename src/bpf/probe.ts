/** Named, cached feature probes: supported / missing / error (never a kernel version comparison). */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { lib, strerror } from './native.js';
import { libbpfVersion } from './object.js';

export type ProbeStatus = 'supported' | 'missing' | 'error';
export interface ProbeResult {
  name: string;
  status: ProbeStatus;
  detail: string;
}

const PROG_TYPES: Record<string, number> = {
  kprobe: 2, sched_cls: 3, tracepoint: 5, xdp: 6, cgroup_skb: 8, raw_tracepoint: 17, tracing: 26, netfilter: 32,
};
const MAP_TYPES: Record<string, number> = { percpu_array: 6, lru_percpu_hash: 10, lpm_trie: 11, ringbuf: 27 };

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

export function probeProgType(name: keyof typeof PROG_TYPES & string): ProbeResult {
  return cached(`prog:${name}`, () => libbpfOutcome(lib.probeProgType(PROG_TYPES[name], null) as number));
}

export function probeMapType(name: keyof typeof MAP_TYPES & string): ProbeResult {
  return cached(`map:${name}`, () => libbpfOutcome(lib.probeMapType(MAP_TYPES[name], null) as number));
}

export function probeBtf(): ProbeResult {
  return cached('btf', () => (existsSync('/sys/kernel/btf/vmlinux') ? { status: 'supported', detail: '/sys/kernel/btf/vmlinux' } : { status: 'missing', detail: 'no /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF)' }));
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

export function allProbes(): ProbeResult[] {
  let kernel = release();
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* os.release() is fine */
  }
  return [
    { name: 'kernel', status: 'supported', detail: kernel },
    { name: 'libbpf', status: 'supported', detail: libbpfVersion() },
    probeBtf(),
    ...Object.keys(PROG_TYPES).map((n) => probeProgType(n)),
    ...Object.keys(MAP_TYPES).map((n) => probeMapType(n)),
    probeKprobes(),
  ];
}
