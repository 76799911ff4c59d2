/**
 * Attachments. Every one is a bpf_link owned by this process where the kernel has them (XDP links,
 * tcx links since 6.6), so the kernel detaches it when the process dies, even on SIGKILL.
 * Older kernels get classic TC (clsact + cls_bpf via libbpf's bpf_tc_* API), detached on exit.
 */
import { EXIT, XtError, featureError } from '../errors.js';
import { log } from '../log.js';
import { c, lib, strerror } from './native.js';

const BPF_XDP = 37;
const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;
const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const EEXIST = 17;
const EBUSY = 16;
const EINVAL = 22;
const EPERM = 1;

export type XdpMode = 'auto' | 'native' | 'generic';

export interface Attachment {
  readonly iface: string;
  /** e.g. "xdp/native", "tcx/egress", "tc/egress" */
  readonly kind: string;
  detach(): void;
}

function attachError(what: string, iface: string, rc: number): XtError {
  if (rc === -EPERM) return new XtError(`cannot attach ${what} to ${iface}: ${strerror(rc)} (needs root or CAP_BPF+CAP_NET_ADMIN)`, EXIT.PRIVILEGE);
  return new XtError(`cannot attach ${what} to ${iface}: ${strerror(rc)}`, EXIT.FEATURE);
}

class LinkFd implements Attachment {
  constructor(
    readonly iface: string,
    readonly kind: string,
    private fd: number,
  ) {}
  detach(): void {
    if (this.fd >= 0) c.close(this.fd);
    this.fd = -1;
  }
}

function linkCreateOpts(flags: number): Buffer {
  const b = Buffer.alloc(16); // { size_t sz; __u32 flags; } then zeros
  b.writeBigUInt64LE(16n, 0);
  b.writeUInt32LE(flags, 8);
  return b;
}

export function attachXdp(progFd: number, iface: string, ifindex: number, mode: XdpMode): Attachment {
  const tryMode = (flags: number): number => lib.linkCreate(progFd, ifindex, BPF_XDP, linkCreateOpts(flags)) as number;
  const busy = (rc: number): XtError =>
    new XtError(
      `cannot attach XDP to ${iface}: another XDP program is attached (${strerror(rc)}); detach it first: ip link set dev ${iface} xdp off`,
      EXIT.FAILURE,
    );
  if (mode !== 'generic') {
    const fd = tryMode(XDP_FLAGS_DRV_MODE);
    if (fd >= 0) return new LinkFd(iface, 'xdp/native', fd);
    if (fd === -EBUSY || fd === -EEXIST) throw busy(fd);
    if (mode === 'native') throw attachError('XDP in native mode (--xdp-mode native; try --xdp-mode generic)', iface, fd);
    log.info(`${iface}: native XDP not available (${strerror(fd)}), falling back to generic XDP`);
  }
  const fd = tryMode(XDP_FLAGS_SKB_MODE);
  if (fd >= 0) {
    log.warn(`${iface}: generic XDP counts a GRO/GSO packet as one frame (bytes with one set of headers); --ingress-hook tc counts wire frames`);
    return new LinkFd(iface, 'xdp/generic', fd);
  }
  if (fd === -EBUSY || fd === -EEXIST) throw busy(fd);
  if (fd === -EINVAL) throw featureError(`cannot attach XDP to ${iface}: the kernel has no XDP links (needs Linux 5.9 or newer)`);
  throw attachError('XDP', iface, fd);
}

class TcFilter implements Attachment {
  constructor(
    readonly iface: string,
    readonly kind: string,
    private readonly hook: Buffer,
    private readonly handle: number,
    private readonly priority: number,
    private readonly createdQdisc: boolean,
  ) {}
  private done = false;
  detach(): void {
    if (this.done) return;
    this.done = true;
    const o = tcOpts(0);
    o.writeUInt32LE(this.handle, 20);
    o.writeUInt32LE(this.priority, 24);
    const rc = lib.tcDetach(this.hook, o) as number;
    if (rc < 0) log.warn(`${this.iface}: detaching the TC filter failed: ${strerror(rc)}`);
    if (this.createdQdisc) {
      const h = tcHook(this.hook.readInt32LE(8), BPF_TC_INGRESS | BPF_TC_EGRESS);
      lib.tcHookDestroy(h);
    }
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

/** TC hooks in order of preference; the first that attaches wins. */
const TC_CHAIN: ReadonlyArray<{ kind: string; attach: (fd: number, iface: string, ifindex: number, dir: TcDir) => Attachment | number }> = [
  {
    kind: 'tcx',
    attach: (fd, iface, ifindex, dir) => {
      const link = lib.linkCreate(fd, ifindex, dir === 'egress' ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, null) as number;
      return link >= 0 ? new LinkFd(iface, `tcx/${dir}`, link) : link;
    },
  },
  {
    kind: 'tc',
    attach: (fd, iface, ifindex, dir) => {
      const hook = tcHook(ifindex, dir === 'egress' ? BPF_TC_EGRESS : BPF_TC_INGRESS);
      let rc = lib.tcHookCreate(hook) as number;
      const created = rc === 0;
      if (rc < 0 && rc !== -EEXIST) return rc;
      const o = tcOpts(fd);
      rc = lib.tcAttach(hook, o) as number;
      if (rc < 0) {
        if (created) lib.tcHookDestroy(tcHook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
        return rc;
      }
      log.warn(`${iface}: this kernel has no tcx links; ${dir} uses a classic TC filter, which outlives a SIGKILLed xtrace`);
      return new TcFilter(iface, `tc/${dir}`, hook, o.readUInt32LE(20), o.readUInt32LE(24), created);
    },
  },
];

export function attachTc(progFd: number, iface: string, ifindex: number, dir: TcDir): Attachment {
  let last = 0;
  for (const hook of TC_CHAIN) {
    const r = hook.attach(progFd, iface, ifindex, dir);
    if (typeof r !== 'number') {
      log.debug(`${iface}: ${dir} attached as ${r.kind}`);
      return r;
    }
    last = r;
    log.debug(`${iface}: ${hook.kind}/${dir} did not attach: ${strerror(r)}`);
    if (r === -EPERM) break;
  }
  throw attachError(`the TC ${dir} program`, iface, last);
}

export interface HookState {
  xdp: { mode: 'none' | 'native' | 'generic' | 'offload' | 'multi'; progId: number };
  tcxIngress: number;
  tcxEgress: number;
}

const XDP_MODES = ['none', 'native', 'generic', 'offload', 'multi'] as const;

/** What is attached to an interface: XDP (mode and program id) and the number of tcx programs. */
export function queryHooks(ifindex: number): HookState {
  const x = Buffer.alloc(32); // bpf_xdp_query_opts
  x.writeBigUInt64LE(32n, 0);
  const rc = lib.xdpQuery(ifindex, 0, x) as number;
  const xdp = rc < 0 ? { mode: 'none' as const, progId: 0 } : { mode: XDP_MODES[x.readUInt8(24)] ?? 'multi', progId: x.readUInt32LE(8) };
  const tcx = (type: number): number => {
    const q = Buffer.alloc(40); // bpf_prog_query_opts, prog_ids NULL: the kernel returns the count
    q.writeBigUInt64LE(40n, 0);
    const r = lib.progQuery(ifindex, type, q) as number;
    return r < 0 ? 0 : q.readUInt32LE(24);
  };
  return { xdp, tcxIngress: tcx(BPF_TCX_INGRESS), tcxEgress: tcx(BPF_TCX_EGRESS) };
}

