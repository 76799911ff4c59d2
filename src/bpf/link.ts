/**
 * Attachments. Every one is a `Link`: a bpf_link owned by this process where the kernel has one
 * (XDP links, tcx links), so the kernel detaches it when the process dies, even on SIGKILL; older
 * kernels get a classic TC filter (clsact + cls_bpf through libbpf's bpf_tc_* API), removed on exit.
 *
 * Each function here attaches one way and returns the link or the kernel's refusal; which way is tried
 * first, and what follows a refusal, is data in the modes' hook slots (src/bpf/hooks.ts).
 */
import { execFileSync } from 'node:child_process';
import { readSync } from 'node:fs';
import { EXIT, XtError } from '../errors.js';
import { log } from '../log.js';
import { type Ptr, c, errno, lib, strerror } from './native.js';
import type { BpfObject } from './object.js';

const BPF_XDP = 37;
const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;
const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const EEXIST = 17;
const EBUSY = 16;
const EPERM = 1;
const ERANGE = 34;
const ENODEV = 19;

export interface Link {
  /** "xdp/native", "tcx/egress", "tc/egress", ... */
  readonly kind: string;
  /** what it is attached to: an interface name, a cgroup path, a kernel function */
  readonly target: string;
  /** the kernel's bpf_link id; 0 for a classic TC filter, which is no link */
  readonly id: number;
  /** the id of the program it runs */
  readonly progId: number;
  /** the link's fd, where it has one (an iterator is run through it) */
  readonly fd?: number;
  destroy(): void;
}

export interface LinkInfo {
  kind: string;
  target: string;
  link_id: number;
  prog_id: number;
}

export const linkInfo = (l: Link): LinkInfo => ({ kind: l.kind, target: l.target, link_id: l.id, prog_id: l.progId });

/** A candidate that did not attach: why, and the errno when the kernel said no. */
export interface Refusal {
  refused: string;
  errno?: number;
  /** stop trying the others (no privilege, a conflicting program): the next would fail the same way */
  final?: boolean;
}

/** A hook tried: how it went ("refused" with the kernel's reason). */
export interface Tried {
  name: string;
  outcome: 'serves' | 'refused' | 'not tried';
  reason: string;
}

/** XTRACE_DISABLE_HOOKS=name,...: hook kinds refused before anything is tried (to exercise a fallback). */
export function disabledHooks(): Set<string> {
  return new Set((process.env.XTRACE_DISABLE_HOOKS ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

/** Link and program ids of a bpf_link fd (bpf_link_info: type, id, prog_id). */
function linkIds(fd: number): { id: number; progId: number } {
  const info = Buffer.alloc(64);
  const rc = lib.objGetInfoByFd(fd, info, [info.length]) as number;
  return rc < 0 ? { id: 0, progId: 0 } : { id: info.readUInt32LE(4), progId: info.readUInt32LE(8) };
}

/** The id of a loaded program (bpf_prog_info.id). */
export function progId(progFd: number): number {
  const info = Buffer.alloc(256);
  const rc = lib.objGetInfoByFd(progFd, info, [info.length]) as number;
  return rc < 0 ? 0 : info.readUInt32LE(4);
}

class FdLink implements Link {
  readonly id: number;
  readonly progId: number;
  constructor(
    readonly target: string,
    readonly kind: string,
    private linkFd: number,
  ) {
    ({ id: this.id, progId: this.progId } = linkIds(linkFd));
  }
  get fd(): number {
    return this.linkFd;
  }
  destroy(): void {
    if (this.linkFd >= 0) c.close(this.linkFd);
    this.linkFd = -1;
  }
}

function linkCreateOpts(flags: number): Buffer {
  const b = Buffer.alloc(16); // { size_t sz; __u32 flags; } then zeros
  b.writeBigUInt64LE(16n, 0);
  b.writeUInt32LE(flags, 8);
  return b;
}

const kernelSaid = (rc: number, final = rc === -EPERM): Refusal => ({ refused: strerror(rc), errno: -rc, final });

/** One line for an interface hook no way could serve: exit 3 without privilege, 1 when another program holds it, else 4. */
export function attachError(what: string, iface: string, tried: readonly Tried[], last: Refusal): XtError {
  const reasons = tried.filter((t) => t.outcome === 'refused').map((t) => `${t.name}: ${t.reason}`).join('; ');
  if (last.errno === EPERM) return new XtError(`cannot attach ${what} to ${iface}: ${reasons} (needs root or CAP_BPF+CAP_NET_ADMIN)`, EXIT.PRIVILEGE);
  if (last.errno === EBUSY || last.errno === EEXIST)
    return new XtError(`cannot attach ${what} to ${iface}: another program is attached (${reasons}); detach it first (xtrace interfaces shows it)`, EXIT.FAILURE);
  return new XtError(`cannot attach ${what} to ${iface}: ${reasons}`, EXIT.FEATURE);
}

export type XdpMode = 'auto' | 'native' | 'generic';

/** XDP as a link in one mode. EPERM and a program already there (EBUSY, EEXIST) are final: the other mode would fail the same way. */
export function attachXdpLink(progFd: number, iface: string, ifindex: number, mode: 'native' | 'generic'): Link | Refusal {
  const fd = lib.linkCreate(progFd, ifindex, BPF_XDP, linkCreateOpts(mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE)) as number;
  if (fd >= 0) return new FdLink(iface, `xdp/${mode}`, fd);
  const r = kernelSaid(fd, fd === -EPERM || fd === -EBUSY || fd === -EEXIST);
  // the driver's answer for an MTU past what its single-buffer XDP takes (jumbo frames)
  return fd === -ERANGE && mode === 'native' ? { ...r, refused: `${r.refused}: the MTU is too large for this driver's native XDP` } : r;
}

/** A classic cls_bpf filter; on destroy only this filter is deleted (the clsact qdisc and others' filters stay). */
class TcFilter implements Link {
  readonly id = 0;
  private done = false;
  constructor(
    readonly target: string,
    readonly kind: string,
    readonly progId: number,
    private readonly hook: Buffer,
    private readonly handle: number,
    private readonly priority: number,
    private readonly createdQdisc: boolean,
  ) {}
  destroy(): void {
    if (this.done) return;
    this.done = true;
    const o = tcOpts(0);
    o.writeUInt32LE(this.handle, 20);
    o.writeUInt32LE(this.priority, 24);
    const rc = lib.tcDetach(this.hook, o) as number;
    if (rc === -ENODEV) return; // the interface is gone, and its filters with it
    if (rc < 0) log.warn(`${this.target}: detaching the TC filter failed: ${strerror(rc)}`);
    // The clsact qdisc goes only when xtrace created it and no filter of anyone's is left on it.
    if (this.createdQdisc && tcFilterCount(this.target, 'ingress') === 0 && tcFilterCount(this.target, 'egress') === 0)
      lib.tcHookDestroy(tcHook(this.hook.readInt32LE(8), BPF_TC_INGRESS | BPF_TC_EGRESS));
  }
}

/** Filters of any kind on a clsact direction (iproute2's tc); -1 when it cannot tell. */
function tcFilterCount(iface: string, dir: TcDir): number {
  try {
    const out = execFileSync('tc', ['-j', 'filter', 'show', 'dev', iface, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.trim() ? (JSON.parse(out) as unknown[]).length : 0;
  } catch {
    return -1;
  }
}

function tcHook(ifindex: number, point: number): Buffer {
  const h = Buffer.alloc(24); // { size_t sz; int ifindex; enum attach_point; __u32 parent; }
  h.writeBigUInt64LE(24n, 0);
  h.writeInt32LE(ifindex, 8);
  h.writeUInt32LE(point, 12);
  return h;
}

function tcOpts(progFd: number): Buffer {
  const o = Buffer.alloc(32); // { size_t sz; int prog_fd; __u32 flags, prog_id, handle, priority; }
  o.writeBigUInt64LE(32n, 0);
  o.writeInt32LE(progFd, 8);
  return o;
}

export type TcDir = 'ingress' | 'egress';

/** A tcx link (6.6+). */
export function attachTcx(progFd: number, iface: string, ifindex: number, dir: TcDir): Link | Refusal {
  const link = lib.linkCreate(progFd, ifindex, dir === 'egress' ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, null) as number;
  return link >= 0 ? new FdLink(iface, `tcx/${dir}`, link) : kernelSaid(link);
}

/** A classic clsact filter (before tcx), through libbpf's bpf_tc_* API. */
export function attachTcFilter(progFd: number, iface: string, ifindex: number, dir: TcDir): Link | Refusal {
  const hook = tcHook(ifindex, dir === 'egress' ? BPF_TC_EGRESS : BPF_TC_INGRESS);
  const rc = lib.tcHookCreate(hook) as number; // creates clsact, or finds it (EEXIST)
  if (rc < 0 && rc !== -EEXIST) return kernelSaid(rc);
  const created = rc === 0;
  const o = tcOpts(progFd);
  const at = lib.tcAttach(hook, o) as number;
  if (at < 0) {
    if (created) lib.tcHookDestroy(tcHook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
    return kernelSaid(at);
  }
  log.warn(`${iface}: this kernel has no tcx links; ${dir} uses a classic TC filter, which outlives a SIGKILLed xtrace`);
  return new TcFilter(iface, `tc/${dir}`, o.readUInt32LE(16), hook, o.readUInt32LE(20), o.readUInt32LE(24), created);
}

export interface HookState {
  xdp: { mode: 'none' | 'native' | 'generic' | 'offload' | 'multi'; progId: number };
  /** null when the query was refused (no privilege) */
  tcxIngress: number | null;
  tcxEgress: number | null;
}

const XDP_MODES = ['none', 'native', 'generic', 'offload', 'multi'] as const;

/** What is attached to an interface: XDP (mode and program id) and the number of tcx programs. */
export function queryHooks(ifindex: number): HookState {
  const x = Buffer.alloc(32); // bpf_xdp_query_opts
  x.writeBigUInt64LE(32n, 0);
  const rc = lib.xdpQuery(ifindex, 0, x) as number;
  const xdp = rc < 0 ? { mode: 'none' as const, progId: 0 } : { mode: XDP_MODES[x.readUInt8(24)] ?? 'multi', progId: x.readUInt32LE(8) };
  const tcx = (type: number): number | null => {
    const q = Buffer.alloc(40); // bpf_prog_query_opts, prog_ids NULL: the kernel returns the count
    q.writeBigUInt64LE(40n, 0);
    const r = lib.progQuery(ifindex, type, q) as number;
    if (r === -EPERM) return null;
    return r < 0 ? 0 : q.readUInt32LE(24);
  };
  return { xdp, tcxIngress: tcx(BPF_TCX_INGRESS), tcxEgress: tcx(BPF_TCX_EGRESS) };
}

/** A link libbpf made (fentry, kprobe, tracepoints): destroyed through libbpf, and by the kernel when the process dies. */
class LibbpfLink implements Link {
  readonly id: number;
  readonly progId: number;
  constructor(
    readonly target: string,
    readonly kind: string,
    private link: Ptr | null,
  ) {
    ({ id: this.id, progId: this.progId } = linkIds(lib.bpfLinkFd(link) as number));
  }
  get fd(): number {
    return this.link ? (lib.bpfLinkFd(this.link) as number) : -1;
  }
  destroy(): void {
    if (this.link) lib.bpfLinkDestroy(this.link);
    this.link = null;
  }
}

/**
 * An iterator's link (iter/tcp, ...): `open()` a new iteration (an fd whose read runs the program over
 * every object, until EOF), `run()` one to its end.
 */
export function openIter(l: Link): number {
  if (l.fd === undefined || l.fd < 0) throw new Error(`${l.kind}: no iterator link`);
  const fd = lib.iterCreate(l.fd) as number;
  if (fd < 0) throw new Error(`bpf_iter_create: ${strerror(fd)}`);
  return fd;
}

export function runIter(l: Link): void {
  const fd = openIter(l);
  const buf = Buffer.alloc(4096);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    c.close(fd);
  }
}

/** Attaches a loaded program where its section says (fentry/F, kprobe/F, tp_btf/T, tracepoint/C/T, iter/T). */
export function attachBySection(obj: BpfObject, prog: string, kind: string, target: string): Link | Refusal {
  const l = lib.progAttach(obj.progHandle(prog)) as Ptr | null;
  if (!l) {
    const e = errno();
    return { refused: strerror(e), errno: e, final: e === EPERM };
  }
  return new LibbpfLink(target, kind, l);
}

const SYS_BPF: Record<string, number> = { x64: 321, arm64: 280, ia32: 357, ppc64: 361, s390x: 351, riscv64: 280 };
const BPF_LINK_CREATE = 28;
const BPF_NETFILTER = 45;
export const NF = { ipv4: 2, ipv6: 10, preRouting: 0, localIn: 1, localOut: 3, postRouting: 4 } as const;
/** NF_IP_PRI_LAST - 1: the kernel refuses the extremes */
export const NF_PRI_LAST = 2147483646;

/** A netfilter hook as a bpf_link (kernel 6.4+), made with bpf(2): libbpf 1.1 has no fields for it. It hooks the caller's network namespace. */
export function attachNetfilter(progFd: number, pf: number, hook: number, priority: number, kind: string, target: string): Link | Refusal {
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) return { refused: `bpf(2) number unknown for ${process.arch}` };
  const attr = Buffer.alloc(64);
  attr.writeUInt32LE(progFd, 0);
  attr.writeUInt32LE(0, 4);
  attr.writeUInt32LE(BPF_NETFILTER, 8);
  attr.writeUInt32LE(pf, 16);
  attr.writeUInt32LE(hook, 20);
  attr.writeInt32LE(priority, 24);
  const fd = Number(c.syscall3(nr, BPF_LINK_CREATE, attr, attr.length));
  if (fd < 0) {
    const e = errno();
    return { refused: strerror(e), errno: e, final: e === EPERM };
  }
  return new FdLink(target, kind, fd);
}

const O_RDONLY_DIRECTORY = 0o200000;

/** A cgroup program as a bpf_link on a cgroup v2 directory (multi-attach: other programs there stay). */
export function attachCgroup(progFd: number, dir: string, attachType: number, kind: string): Link | Refusal {
  const cg = c.open(dir, O_RDONLY_DIRECTORY) as number;
  if (cg < 0) {
    const e = errno();
    return { refused: `${dir}: ${strerror(e)}`, errno: e };
  }
  try {
    const fd = lib.linkCreate(progFd, cg, attachType, null) as number;
    return fd >= 0 ? new FdLink(dir, kind, fd) : { refused: strerror(fd), errno: -fd, final: fd === -EPERM };
  } finally {
    c.close(cg);
  }
}
