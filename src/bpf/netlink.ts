/**
 * Netlink requests over a raw socket (libc through koffi): one request, its replies (a dump's every
 * message), and the attributes in them. Used for the kernel's RDMA netlink (NETLINK_RDMA): devices,
 * their QPs with pid, statistics. Knows no protocol beyond netlink's own framing.
 */
import { SOCK, c, errno, socketFd, strerror } from './native.js';

const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const NLM_F_REQUEST = 1;
const NLM_F_MULTI = 2;
export const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const HDR = 16;
const NLA_TYPE_MASK = 0x3fff;

const align4 = (n: number): number => (n + 3) & ~3;

/** A netlink error: the kernel's errno for the request. */
export class NetlinkError extends Error {
  constructor(readonly errno: number, what: string) {
    super(`${what}: ${strerror(errno)}`);
  }
}

/** Attributes as type -> payloads (a type may repeat: nested tables). */
export type Attrs = Map<number, Buffer[]>;

export function parseAttrs(b: Buffer, off = 0, end = b.length): Attrs {
  const out: Attrs = new Map();
  while (off + 4 <= end) {
    const len = b.readUInt16LE(off);
    const type = b.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < 4 || off + len > end) break;
    const v = b.subarray(off + 4, off + len);
    const list = out.get(type);
    if (list) list.push(v);
    else out.set(type, [v]);
    off += align4(len);
  }
  return out;
}

/** One attribute: type, then its payload (u32, u64, a NUL-terminated string, or raw bytes). */
export function attr(type: number, v: number | bigint | string | Buffer, width: 1 | 4 | 8 = 4): Buffer {
  let p: Buffer;
  if (typeof v === 'string') p = Buffer.from(`${v}\0`);
  else if (Buffer.isBuffer(v)) p = v;
  else {
    p = Buffer.alloc(width);
    if (width === 8) p.writeBigUInt64LE(BigInt(v));
    else if (width === 4) p.writeUInt32LE(Number(v));
    else p.writeUInt8(Number(v));
  }
  const out = Buffer.alloc(align4(4 + p.length));
  out.writeUInt16LE(4 + p.length, 0);
  out.writeUInt16LE(type, 2);
  p.copy(out, 4);
  return out;
}

export const u32 = (a: Attrs, t: number): number | undefined => a.get(t)?.[0]?.readUInt32LE(0);
export const u8 = (a: Attrs, t: number): number | undefined => a.get(t)?.[0]?.readUInt8(0);
export const u64 = (a: Attrs, t: number): bigint | undefined => a.get(t)?.[0]?.readBigUInt64LE(0);
export const str = (a: Attrs, t: number): string | undefined => {
  const v = a.get(t)?.[0];
  if (!v) return undefined;
  const z = v.indexOf(0);
  return v.toString('utf8', 0, z < 0 ? v.length : z);
};

let seq = 1;

/**
 * Sends one request (`type`, `flags`: NLM_F_DUMP for a dump) and returns the payloads of its replies
 * (each message after its 16-byte header). Throws NetlinkError for the kernel's refusal. Replies wait
 * at most 5 s (the kernel answers at once; this bounds a wedged driver).
 */
export function netlinkRequest(protocol: number, type: number, flags: number, payload: Buffer, what: string): Buffer[] {
  const fd = socketFd(SOCK.AF_NETLINK, SOCK.RAW, protocol);
  if (fd < 0) throw new NetlinkError(-fd, `${what}: netlink socket`);
  try {
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(5n, 0);
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    const mySeq = seq++;
    const msg = Buffer.alloc(HDR + align4(payload.length));
    msg.writeUInt32LE(HDR + payload.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags | NLM_F_REQUEST, 6);
    msg.writeUInt32LE(mySeq, 8);
    payload.copy(msg, HDR);
    if ((c.send(fd, msg, msg.length, 0) as number) < 0) throw new NetlinkError(errno(), what);
    const out: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = c.recv(fd, buf, buf.length, 0) as number;
      if (n < 0) throw new NetlinkError(errno(), what);
      let off = 0;
      let more = false;
      while (off + HDR <= n) {
        const len = buf.readUInt32LE(off);
        const t = buf.readUInt16LE(off + 4);
        const f = buf.readUInt16LE(off + 6);
        if (len < HDR || off + len > n) break;
        if (buf.readUInt32LE(off + 8) === mySeq) {
          if (t === NLMSG_DONE) return out;
          if (t === NLMSG_ERROR) {
            const err = -buf.readInt32LE(off + HDR);
            if (err !== 0) throw new NetlinkError(err, what);
            return out;
          }
          out.push(Buffer.from(buf.subarray(off + HDR, off + len)));
          more = (f & NLM_F_MULTI) !== 0;
        }
        off += align4(len);
      }
      if (!more) return out;
    }
  } finally {
    c.close(fd);
  }
}
