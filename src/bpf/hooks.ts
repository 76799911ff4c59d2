/**
 * Hook slots with fallback chains, as data: a mode declares slots (a stage of the stack mode, say),
 * each with candidate hooks in preference order (fentry, kprobe, tp_btf, tracepoint, netfilter); a
 * candidate is one or more programs of one BPF object and where each attaches.
 *
 * `attachSlots` keeps, per slot, the first candidate the running kernel serves: a candidate whose
 * target the kernel lacks is refused before loading (BTF, kallsyms, tracefs); one that the kernel
 * refuses at load or attach is recorded with the kernel's reason and the object is reopened without
 * it. Programs of candidates not chosen are never loaded (autoload off). Every refusal is kept for
 * `--debug-func` and `xtrace probe`. XTRACE_DISABLE_HOOKS=fentry,kprobe,... refuses candidates by kind.
 */
import { existsSync, readFileSync } from 'node:fs';
import { EXIT, XtError } from '../errors.js';
import { log } from '../log.js';
import { kernelBtfHas } from './btf.js';
import { type Link, NF, NF_PRI_LAST, type Refusal, type TcDir, attachBySection, attachCgroup, attachError, attachNetfilter, attachTcFilter, attachTcx, attachXdpLink, disabledHooks } from './link.js';
import { MissingSymbol } from './native.js';
import { inNetns, netnsOf } from './netns.js';
import { type BpfObject, LoadError } from './object.js';

export type HookKind = 'fentry' | 'kprobe' | 'tp_btf' | 'tracepoint' | 'netfilter' | 'cgroup' | 'iter' | 'xdp/native' | 'xdp/generic' | 'tcx' | 'tc';
export const HOOK_KINDS: readonly HookKind[] = ['fentry', 'kprobe', 'tp_btf', 'tracepoint', 'netfilter', 'cgroup', 'iter', 'xdp/native', 'xdp/generic', 'tcx', 'tc'];
/** Kinds that attach a program already loaded in another way: a refusal moves to the next candidate without reloading. */
const INTERFACE_KINDS: ReadonlySet<HookKind> = new Set(['xdp/native', 'xdp/generic', 'tcx', 'tc']);

export interface HookPart {
  prog: string;
  /**
   * fentry/kprobe: a kernel function; tp_btf: a tracepoint; tracepoint: "category/name"; netfilter:
   * "ipv4/pre_routing" ... in xtrace's network namespace, or "ipv4/local_out@/proc/PID/ns/net" in
   * another's; cgroup: "ATTACH@DIR" (inet_egress, inet_ingress, sock_create, sock_release on a cgroup
   * v2 directory); xdp/native, xdp/generic: an interface; tcx, tc: "ingress@IFACE" or "egress@IFACE"
   */
  target: string;
  /** the interface's index (xdp/*, tcx, tc) */
  ifindex?: number;
  /** attach when the kernel has the target, go on without it otherwise (the IPv6 half, when IPv6 is a module) */
  optional?: boolean;
}

export interface HookCandidate {
  kind: HookKind;
  parts: readonly HookPart[];
  /** known before anything is tried: why this machine cannot serve it (no cgroup v2 hierarchy, say) */
  unavailable?: string;
}

export interface HookSlot {
  name: string;
  candidates: readonly HookCandidate[];
  /**
   * The run cannot go on without it (an interface's hooks): when no candidate serves, attachSlots
   * throws one line, "cannot attach WHAT to WHERE: kind: reason; ..." (exit 3 without privilege, 1 when
   * another program holds the hook, 4 otherwise), instead of leaving the slot unavailable.
   */
  required?: { what: string; where: string };
}

export interface HookTry {
  hook: string;
  outcome: 'serves' | 'refused' | 'not tried';
  reason: string;
}

export interface SlotChoice {
  slot: string;
  /** "tp_btf:netif_receive_skb"; null when no candidate serves (the slot is unavailable) */
  serves: string | null;
  kind: HookKind | null;
  tried: HookTry[];
}

export const hookName = (c: HookCandidate): string => `${c.kind}:${c.parts.map((p) => p.target).join('+')}`;

const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const tracefsRoot = (): string | undefined => TRACEFS.find((d) => existsSync(`${d}/events`));

let kallsyms: Set<string> | null = null;
function kernelSymbol(name: string): boolean {
  if (!kallsyms) {
    kallsyms = new Set();
    try {
      for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
        const sym = line.split(' ')[2];
        if (sym) kallsyms.add(sym.split('\t')[0]!);
      }
    } catch {
      /* unreadable: let the attach decide */
    }
  }
  return kallsyms.size === 0 || kallsyms.has(name);
}

const kprobePmu = (): boolean => existsSync('/sys/bus/event_source/devices/kprobe/type');

/**
 * What a kernel that refuses fentry programs as root (EPERM at load) lacks. fentry runs through a BPF
 * trampoline patched into the function's ftrace call site: tracefs lists the functions ftrace can hook
 * in available_filter_functions, and a kernel without it (ftrace's function hooks off) has none. With
 * the hooks there, the refusal is the kernel's policy (lockdown, or its vendor's restriction).
 */
function fentryLack(): string {
  const root = tracefsRoot();
  if (root && !existsSync(`${root}/available_filter_functions`))
    return `the kernel has no ftrace function hooks (no ${root}/available_filter_functions), which BPF trampolines (fentry) need`;
  let lockdown = '';
  try {
    lockdown = /\[(\w+)\]/.exec(readFileSync('/sys/kernel/security/lockdown', 'utf8'))?.[1] ?? '';
  } catch {
    /* securityfs not mounted */
  }
  return `the kernel does not let root load BPF trampolines (fentry)${lockdown && lockdown !== 'none' ? `; kernel lockdown: ${lockdown}` : ''}${root ? '' : ' (tracefs is not mounted: its function hooks cannot be checked)'}`;
}

/** Why the running kernel cannot serve this part, found without loading anything; null when it may. */
function precheck(kind: HookKind, part: HookPart): string | null {
  switch (kind) {
    case 'fentry':
      return kernelBtfHas(part.target, 'func') === false ? `no ${part.target} in the kernel's BTF (inlined, renamed or absent)` : null;
    case 'kprobe':
      return kernelSymbol(part.target) ? null : `no ${part.target} in /proc/kallsyms (inlined or renamed)`;
    case 'tp_btf':
      return kernelBtfHas(`btf_trace_${part.target}`, 'typedef') === false ? `the kernel has no tracepoint ${part.target}` : null;
    case 'tracepoint': {
      const root = tracefsRoot();
      if (!root) return 'tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)';
      return existsSync(`${root}/events/${part.target}`) ? null : `the kernel has no tracepoint ${part.target.replace('/', ':')}`;
    }
    case 'iter':
      return kernelBtfHas(`bpf_iter_${part.target}`, 'func') === false ? `the kernel has no ${part.target} iterator` : null;
    case 'netfilter': {
      const [, ns] = splitAt(part.target);
      if (ns && !existsSync(ns)) return `${ns}: no such network namespace (the process has gone?)`;
      return null; // libbpf before 1.2 cannot probe the type: the load says whether the kernel has it (6.4+)
    }
    case 'cgroup': {
      const [attach, dir] = splitCgroupTarget(part.target);
      if (!(attach in CGROUP_ATTACH)) return `unknown cgroup attach point ${attach}`;
      return existsSync(`${dir}/cgroup.procs`) ? null : `${dir} is not a cgroup directory`;
    }
    case 'xdp/native':
    case 'xdp/generic':
    case 'tcx':
    case 'tc':
      return part.ifindex === undefined ? `${part.target}: no interface index` : null;
  }
}

const NF_TARGET: Record<string, [number, number]> = {
  'ipv4/pre_routing': [NF.ipv4, NF.preRouting],
  'ipv6/pre_routing': [NF.ipv6, NF.preRouting],
  'ipv4/local_in': [NF.ipv4, NF.localIn],
  'ipv6/local_in': [NF.ipv6, NF.localIn],
  'ipv4/local_out': [NF.ipv4, NF.localOut],
  'ipv6/local_out': [NF.ipv6, NF.localOut],
};

/** bpf_attach_type of the cgroup attach points */
const CGROUP_ATTACH: Record<string, number> = { inet_ingress: 0, inet_egress: 1, sock_create: 2, sock_release: 34 };
const splitCgroupTarget = (t: string): [string, string] => {
  const at = t.indexOf('@');
  return [t.slice(0, at), t.slice(at + 1)];
};
/** "WHAT@WHERE" -> [WHAT, WHERE]; [WHAT, undefined] without an @ */
const splitAt = (t: string): [string, string | undefined] => {
  const at = t.indexOf('@');
  return at < 0 ? [t, undefined] : [t.slice(0, at), t.slice(at + 1)];
};

const PROG_TYPE_NETFILTER = 32;
const EBUSY = 16;
const EEXIST = 17;
const BPF_NETFILTER = 45;

function attachPart(obj: BpfObject, kind: HookKind, part: HookPart): Link | Refusal {
  if (INTERFACE_KINDS.has(kind)) {
    const [dir, iface] = splitAt(part.target);
    const fd = obj.progFd(part.prog);
    try {
      if (kind === 'xdp/native' || kind === 'xdp/generic') return attachXdpLink(fd, part.target, part.ifindex!, kind === 'xdp/native' ? 'native' : 'generic');
      const tcDir = dir as TcDir;
      return kind === 'tcx' ? attachTcx(fd, iface!, part.ifindex!, tcDir) : attachTcFilter(fd, iface!, part.ifindex!, tcDir);
    } catch (e) {
      if (!(e instanceof MissingSymbol)) throw e;
      return { refused: e.message }; // an older libbpf without the function
    }
  }
  if (kind === 'netfilter') {
    const [where, ns] = splitAt(part.target);
    const t = NF_TARGET[where];
    if (!t) throw new Error(`unknown netfilter target ${part.target}`);
    const attach = (): Link | Refusal => {
      // The kernel takes one BPF program per hook and priority (EBUSY): another xtrace may hold the last one.
      let r: Link | Refusal = { refused: 'no priority free' };
      for (let prio = NF_PRI_LAST; prio > NF_PRI_LAST - 64; prio--) {
        r = attachNetfilter(obj.progFd(part.prog), t[0], t[1], prio, `netfilter/${where}`, part.target);
        if (!('refused' in r) || (r.errno !== EBUSY && r.errno !== EEXIST)) break;
      }
      return r;
    };
    if (!ns) return attach();
    try {
      return inNetns(netnsOf(ns), attach); // the hook belongs to the namespace the link is made in
    } catch (e) {
      return { refused: `cannot enter the network namespace ${ns}: ${(e as Error).message}` };
    }
  }
  if (kind === 'cgroup') {
    const [attach, dir] = splitCgroupTarget(part.target);
    return attachCgroup(obj.progFd(part.prog), dir, CGROUP_ATTACH[attach]!, `cgroup/${attach}`);
  }
  const r = attachBySection(obj, part.prog, kind, part.target);
  if ('refused' in r && kind === 'kprobe' && !kprobePmu()) r.refused += ' (no kprobe PMU: the kernel was built without kprobes)';
  return r;
}

export interface Attached {
  obj: BpfObject;
  links: Link[];
  choices: SlotChoice[];
}

/** A required slot none of whose candidates serves: its one line (see HookSlot.required). */
function requiredError(s: HookSlot, refused: ReadonlyMap<string, Refusal>, key: (s: HookSlot, c: HookCandidate) => string): XtError {
  const tried = s.candidates.map((c) => ({ name: c.kind, outcome: 'refused' as const, reason: refused.get(key(s, c))?.refused ?? '?' }));
  const last = [...s.candidates].reverse().map((c) => refused.get(key(s, c))).find((r) => r?.errno !== undefined) ?? { refused: 'no candidate' };
  return attachError(s.required!.what, s.required!.where, tried, last);
}

/**
 * Opens the object (`open` sets its configuration), loads only the chosen candidates' programs,
 * calls `loaded` (maps to fill before any packet is seen), and attaches them; retries without a
 * candidate the kernel refused: at once with the next one where it runs the same programs (XDP native
 * then generic, tcx then a classic TC filter), else with the object reloaded. Throws when no slot can
 * be served, or a required slot cannot.
 */
export function attachSlots(what: string, slots: readonly HookSlot[], open: () => BpfObject, loaded?: (obj: BpfObject) => void): Attached {
  const off = disabledHooks();
  const refused = new Map<string, Refusal>(); // slot/hookName -> why
  const key = (s: HookSlot, c: HookCandidate): string => `${s.name}/${hookName(c)}`;
  for (const s of slots)
    for (const c of s.candidates) {
      if (off.has(c.kind)) {
        refused.set(key(s, c), { refused: 'turned off by XTRACE_DISABLE_HOOKS' });
        continue;
      }
      if (c.unavailable) {
        refused.set(key(s, c), { refused: c.unavailable });
        continue;
      }
      const why = c.parts.filter((p) => !p.optional).map((p) => precheck(c.kind, p)).find((r) => r !== null);
      if (why) refused.set(key(s, c), { refused: why });
    }
  const progsOf = (c: HookCandidate): string => c.parts.map((p) => p.prog).sort().join(',');
  const maxTries = slots.reduce((n, s) => n + s.candidates.length, 1);
  for (let attempt = 0; attempt < maxTries; attempt++) {
    const chosen = slots.map((s) => s.candidates.find((c) => !refused.has(key(s, c))) ?? null);
    slots.forEach((s, i) => {
      if (s.required && !chosen[i]) throw requiredError(s, refused, key);
    });
    if (chosen.every((c) => c === null)) break;
    const parts = new Map<string, HookCandidate>(); // prog -> candidate
    chosen.forEach((c) => {
      for (const p of c?.parts ?? []) if (!(p.optional && precheck(c!.kind, p))) parts.set(p.prog, c!);
    });
    const obj = open();
    const links: Link[] = [];
    const fail = (): void => {
      while (links.length) links.pop()!.destroy();
      obj.close();
    };
    try {
      for (const prog of obj.programs()) obj.setAutoload(prog, parts.has(prog));
      for (const [prog, c] of parts) if (c.kind === 'netfilter') obj.setProgType(prog, PROG_TYPE_NETFILTER, BPF_NETFILTER);
      try {
        obj.load();
      } catch (e) {
        const slot = e instanceof LoadError && e.prog ? slots.findIndex((_, i) => chosen[i]?.parts.some((p) => p.prog === e.prog)) : -1;
        if (slot < 0) throw e; // the caller checked privileges: a refusal of one program is that hook's, even EPERM
        // the verifier's refusal of a program every remaining way of the slot runs as it is (XDP native or
        // generic, tcx or classic TC) is the program's, not a hook's: said as such, naming the object
        const c0 = chosen[slot]!;
        const rest = slots[slot]!.candidates.filter((x) => x !== c0 && !refused.has(key(slots[slot]!, x)));
        if ((e as LoadError).verifier && INTERFACE_KINDS.has(c0.kind) && rest.every((x) => INTERFACE_KINDS.has(x.kind) && progsOf(x) === progsOf(c0))) throw e;
        let reason = (e as LoadError).reason;
        if (chosen[slot]!.kind === 'fentry' && /Operation not permitted/.test(reason)) reason = `${reason}: ${fentryLack()}`;
        refused.set(key(slots[slot]!, chosen[slot]!), { refused: reason });
        log.debug(`${what}: ${slots[slot]!.name}: ${hookName(chosen[slot]!)} refused at load: ${(e as LoadError).reason}`);
        fail();
        continue;
      }
      loaded?.(obj);
      let retry = false;
      slots.forEach((s, i) => {
        let c = chosen[i];
        while (c && !retry) {
          const made: Link[] = [];
          let refusal: Refusal | null = null;
          for (const p of c.parts) {
            if (!parts.has(p.prog) || (p.optional && precheck(c.kind, p))) continue;
            const r = attachPart(obj, c.kind, p);
            if (!('refused' in r)) {
              made.push(r);
              continue;
            }
            if (r.final && !s.required) throw new XtError(`${what}: cannot attach ${hookName(c)}: ${r.refused} (needs root or CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN)`, EXIT.PRIVILEGE);
            if (p.optional) continue;
            refusal = r;
            break;
          }
          if (!refusal) {
            links.push(...made);
            return;
          }
          for (const l of made.reverse()) l.destroy();
          refused.set(key(s, c), refusal);
          log.debug(`${what}: ${s.name}: ${hookName(c)} refused: ${refusal.refused}`);
          if (refusal.final) throw requiredError({ ...s, candidates: s.candidates.slice(0, s.candidates.indexOf(c) + 1) }, refused, key);
          // the next candidate, where it runs the same (loaded) programs another way, is tried at once
          const same = progsOf(c);
          const next = s.candidates.slice(s.candidates.indexOf(c) + 1).find((x) => !refused.has(key(s, x))) ?? null;
          if (next && INTERFACE_KINDS.has(next.kind) && progsOf(next) === same) {
            chosen[i] = c = next;
            continue;
          }
          if (!next && s.required) throw requiredError(s, refused, key);
          retry = true;
        }
      });
      if (retry) {
        fail();
        continue;
      }
      const choices = slots.map((s, i): SlotChoice => {
        const c = chosen[i];
        const idx = c ? s.candidates.indexOf(c) : s.candidates.length;
        return {
          slot: s.name,
          serves: c ? hookName(c) : null,
          kind: c?.kind ?? null,
          tried: s.candidates.map((x, j) => ({
            hook: hookName(x),
            outcome: j < idx ? 'refused' : j === idx ? 'serves' : 'not tried',
            reason: j < idx ? refused.get(key(s, x))?.refused ?? '' : '',
          })),
        };
      });
      return { obj, links, choices };
    } catch (e) {
      fail();
      throw e;
    }
  }
  const reasons = slots.flatMap((s) => s.candidates.map((c) => `${s.name} ${hookName(c)}: ${refused.get(key(s, c))?.refused ?? '?'}`));
  throw new XtError(`${what}: the kernel serves none of the hooks: ${reasons.join('; ')}`, EXIT.FEATURE);
}
