/**
 * tcpdump filter expressions, run in the kernel: libpcap compiles the expression to classic BPF (on a
 * dead Ethernet handle), this module translates that into eBPF that reads the per-CPU copy of the
 * packet flow.bpf.c makes, and `splice` puts it into a program before load in place of the marker
 * instruction (`r0 = XT_FILTER_MARK`): the marker becomes a jump to the translation, appended after
 * the program's last instruction, which jumps back with its verdict in r0.
 *
 * Registers of the translation: r1 the copy (a map value), r2 its length, r3 the packet's length on
 * the wire, r4 the accumulator A, r5 the index register X, r0 scratch, then the verdict. Classic BPF's
 * scratch memory M[16] is the 64 bytes after the copy's XT_CAP_MAX bytes. A load past the copy ends
 * the filter with "no match", as a load past the packet does in classic BPF.
 */
import { usageError } from '../errors.js';
import { type ClassicInsn, compileClassic } from '../bpf/pcap.js';

export type { ClassicInsn };

/** Compiles a tcpdump expression with libpcap; a refusal is bad input with libpcap's own message. */
export function compileFilter(expr: string, flag: string): ClassicInsn[] {
  const r = compileClassic(expr);
  if ('error' in r) throw usageError(`${flag}: ${r.error} (in '${expr}')`);
  return r.insns;
}

// classic BPF: instruction classes, load modes, the misc TAX (X = A)
const BPF_LD = 0x00;
const BPF_LDX = 0x01;
const BPF_MISC = 0x07;
const BPF_IMM = 0x00;
const BPF_ABS = 0x20;
const BPF_IND = 0x40;
const BPF_MSH = 0xa0;
const BPF_TAX = 0x00;

/**
 * The most bytes of a packet the program can read: each absolute load's end, each indexed load's end
 * with X at its largest. X's largest is known while X is only ever set to a constant or by `ldxb
 * 4*([k]&0xf)` (an IP header's length: at most 60); from anything else (A, M[], the length) it is not,
 * and then XT_CAP_MAX. The kernel copies no more than this of a packet it only filters.
 */
export function bytesRead(prog: readonly ClassicInsn[]): number {
  let xMax = 0;
  for (const i of prog) {
    const cls = i.code & 0x07;
    const mode = i.code & 0xe0;
    if (cls === BPF_LDX) {
      if (mode === BPF_IMM) xMax = Math.max(xMax, i.k);
      else if (mode === BPF_MSH) xMax = Math.max(xMax, 60);
      else return XT_CAP_MAX;
    } else if (cls === BPF_MISC && (i.code & 0xf8) === BPF_TAX) return XT_CAP_MAX;
  }
  let most = 0;
  for (const i of prog) {
    const cls = i.code & 0x07;
    const mode = i.code & 0xe0;
    const size = { 0x00: 4, 0x08: 2, 0x10: 1 }[i.code & 0x18] ?? 4;
    if (cls === BPF_LD && mode === BPF_ABS) most = Math.max(most, i.k + size);
    else if (cls === BPF_LD && mode === BPF_IND) most = Math.max(most, xMax + i.k + size);
    else if (cls === BPF_LDX && mode === BPF_MSH) most = Math.max(most, i.k + 1);
  }
  return Math.min(most, XT_CAP_MAX);
}

/** bpf/include/flow.h's XT_CAP_MAX (bytes of the copy; M[] follows them) and XT_FILTER_MARK: the layout test checks them against the object's BTF. */
export const XT_CAP_MAX = 9216;
export const XT_FILTER_MARK = 0x7f1173a1;

/** a classic instruction's translation (`loop`: a back edge to a loop's head, past the setting of its count), the filter's no-match, or back into the program */
type Target = { to: 'insn'; idx: number } | { to: 'loop'; idx: number } | { to: 'fail' } | { to: 'exit' } | { to: 'back' };
interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  target?: Target;
}

// eBPF opcodes
const LDX_MEM = 0x61; // | size
const STX_MEM_W = 0x63;
const SIZE: Record<number, { bytes: number; bits: number; ebpf: number }> = {
  0x00: { bytes: 4, bits: 32, ebpf: 0x00 },
  0x08: { bytes: 2, bits: 16, ebpf: 0x08 },
  0x10: { bytes: 1, bits: 8, ebpf: 0x10 },
};
const ALU = 0x04;
const ALU64 = 0x07;
const JMP = 0x05;
const JMP32 = 0x06;
const MOV = 0xb0;
const ADD = 0x00;
const K = 0x00;
const X = 0x08;
const END_TO_BE = 0xd8; // BPF_END | BPF_TO_BE
const JA = 0x00;
const JEQ = 0x10;
const JGT = 0x20;
const JLT = 0xa0;
const R0 = 0;
const BUF = 1;
const N = 2;
const LEN = 3;
const A = 4;
const XR = 5;
/**
 * struct xt_cap's fields the translation addresses, from its `data` (r1): M[16], then the packet's
 * length (kept there when r3 counts a loop's rounds), then X and the copy's length, which go through
 * memory at each round so that the verifier stops following their ranges. The layout test checks these
 * against the object's BTF.
 */
export const CAP_FROM_DATA = { mem: XT_CAP_MAX, wire_len: XT_CAP_MAX + 64, x_spill: XT_CAP_MAX + 68, n_spill: XT_CAP_MAX + 72, a_spill: XT_CAP_MAX + 76 } as const;
const MEM_OFF = CAP_FROM_DATA.mem;
const LEN_OFF = CAP_FROM_DATA.wire_len;
const X_SPILL_OFF = CAP_FROM_DATA.x_spill;
const N_SPILL_OFF = CAP_FROM_DATA.n_spill;
const A_SPILL_OFF = CAP_FROM_DATA.a_spill;
/**
 * Rounds the loops of a program may take, in all, before the filter ends with "no match". libpcap's
 * `protochain` walks the header chain with a backward jump, a round a header: 64 rounds follow any
 * chain a real packet carries. The verifier walks every round (about 10 ms each at load, for the
 * three programs), so a bound near the longest possible chain (XT_CAP_MAX / 8) would not load; and
 * libpcap's own interpreter has no bound at all (after an AH header its offset does not move on).
 */
export const LOOP_MAX = 64;

const ins = (code: number, dst: number, src: number, off: number, imm: number, target?: Target): Insn => ({ code, dst, src, off, imm: imm | 0, target });
const mov32K = (dst: number, k: number): Insn => ins(ALU | MOV | K, dst, 0, 0, k);
const mov32X = (dst: number, src: number): Insn => ins(ALU | MOV | X, dst, src, 0, 0);
const ja = (target: Target): Insn => ins(JMP | JA, 0, 0, 0, 0, target);
const FAIL: Target = { to: 'fail' };
const BACK: Target = { to: 'back' };
const EXIT: Target = { to: 'exit' };

/**
 * The loops of a classic program: the backward `ja`s to each head (libpcap's protochain has two, one
 * for the header chain and one past AH), as one range from the head to the last of them.
 */
export function loopRanges(prog: readonly ClassicInsn[]): Array<{ from: number; to: number }> {
  const byHead = new Map<number, number>();
  prog.forEach((c, i) => {
    if ((c.code & 0x07) === 0x05 && (c.code & 0xf0) === 0x00 && (c.k | 0) < 0) {
      const to = i + 1 + (c.k | 0);
      byHead.set(to, Math.max(byHead.get(to) ?? i, i));
    }
  });
  return [...byHead].map(([to, from]) => ({ from, to }));
}

/** The translation, with symbolic jump targets (placed by `splice`). */
export function translate(prog: readonly ClassicInsn[]): Insn[] {
  if (prog.length === 0) throw new Error('empty classic BPF program');
  // A backward jump (libpcap's protochain) is a loop: r3 then counts its rounds, and the packet's
  // length waits in the scratch copy (the verifier accepts a loop whose rounds are bounded).
  const ranges = loopRanges(prog);
  const loops = ranges.length > 0;
  // Loops one after another (two protochains) each get LOOP_MAX rounds, r3 set again on the way into
  // each: every path out of one loop then enters the next with the same count, so the verifier walks
  // N loops, not the product of their rounds (with one count for all, each way out of the first loop
  // left a different count, a state of its own, through the whole of the second). Loops inside
  // loops share one count, set once, so that the outer one stays bounded.
  const perLoop = loops && ranges.every((a, i) => ranges.every((b, j) => i === j || a.to > b.from || b.to > a.from));
  const heads = new Set(perLoop ? ranges.map((r) => r.to) : []);
  const out: Insn[] = [mov32K(A, 0), mov32K(XR, 0)];
  if (loops) out.push(ins(STX_MEM_W, BUF, LEN, LEN_OFF, 0), mov32K(LEN, LOOP_MAX));
  const starts: number[] = [];
  /** where a loop's back edge lands: its head, after the count is set */
  const bodies: number[] = [];
  const load = (size: number, dst: number, k: number): void => {
    const s = SIZE[size]!;
    if (k + s.bytes > XT_CAP_MAX) return void out.push(ja(FAIL));
    out.push(ins(JMP | JLT | K, N, 0, 0, k + s.bytes, FAIL), ins(LDX_MEM | s.ebpf, dst, BUF, k, 0));
    if (s.bits > 8) out.push(ins(ALU | END_TO_BE, dst, 0, 0, s.bits));
  };
  prog.forEach((c, i) => {
    starts[i] = out.length;
    // the way into a loop: every register the same whatever the path that led here (A, X and the
    // copy's length through memory, r0 cleared, the count set), then a jump, whose target the
    // verifier checks against the states it has seen: the first path's walk of the loop then
    // serves every other way in
    if (heads.has(i))
      out.push(
        ins(STX_MEM_W, BUF, A, A_SPILL_OFF, 0),
        ins(LDX_MEM | 0x00, A, BUF, A_SPILL_OFF, 0),
        ins(STX_MEM_W, BUF, XR, X_SPILL_OFF, 0),
        ins(LDX_MEM | 0x00, XR, BUF, X_SPILL_OFF, 0),
        ins(STX_MEM_W, BUF, N, N_SPILL_OFF, 0),
        ins(LDX_MEM | 0x00, N, BUF, N_SPILL_OFF, 0),
        mov32K(R0, 0),
        mov32K(LEN, LOOP_MAX),
        ins(JMP | JA, 0, 0, 0, 0),
      );
    bodies[i] = out.length;
    const cls = c.code & 0x07;
    const size = c.code & 0x18;
    const mode = c.code & 0xe0;
    const next = (j: number): Target => ({ to: 'insn', idx: i + 1 + j });
    switch (cls) {
      case 0x00: // LD
      case 0x01: {
        // LDX
        const dst = cls === 0x00 ? A : XR;
        if (mode === 0x00) out.push(mov32K(dst, c.k));
        else if (mode === 0x80) out.push(loops ? ins(LDX_MEM | 0x00, dst, BUF, LEN_OFF, 0) : mov32X(dst, LEN));
        else if (mode === 0x60) out.push(ins(LDX_MEM | 0x00, dst, BUF, MEM_OFF + 4 * (c.k & 15), 0));
        else if (mode === 0x20 && cls === 0x00) load(size, A, c.k);
        else if (mode === 0x40 && cls === 0x00) {
          const s = SIZE[size]!;
          if (c.k > XT_CAP_MAX) {
            out.push(ja(FAIL));
            break;
          }
          out.push(ins(ALU64 | MOV | X, R0, XR, 0, 0));
          if (c.k) out.push(ins(ALU64 | ADD | K, R0, 0, 0, c.k));
          out.push(
            ins(JMP | JGT | K, R0, 0, 0, XT_CAP_MAX - s.bytes, FAIL),
            ins(ALU64 | ADD | K, R0, 0, 0, s.bytes),
            ins(JMP | JGT | X, R0, N, 0, 0, FAIL),
            ins(ALU64 | ADD | X, R0, BUF, 0, 0),
            ins(LDX_MEM | s.ebpf, A, R0, -s.bytes, 0),
          );
          if (s.bits > 8) out.push(ins(ALU | END_TO_BE, A, 0, 0, s.bits));
        } else if (mode === 0xa0 && cls === 0x01) {
          // X = 4 * (P[k] & 0xf)
          load(0x10, XR, c.k);
          out.push(ins(ALU | 0x50 | K, XR, 0, 0, 0xf), ins(ALU | 0x60 | K, XR, 0, 0, 2));
        } else throw new Error(`unsupported classic BPF load 0x${c.code.toString(16)}`);
        break;
      }
      case 0x02: // ST: M[k] = A
      case 0x03: // STX: M[k] = X
        out.push(ins(STX_MEM_W, BUF, cls === 0x02 ? A : XR, MEM_OFF + 4 * (c.k & 15), 0));
        break;
      case 0x04: {
        // ALU on A (32 bits)
        const op = c.code & 0xf0;
        const src = c.code & 0x08;
        if (op === 0x80) {
          out.push(ins(ALU | 0x80, A, 0, 0, 0)); // NEG
          break;
        }
        if ((op === 0x30 || op === 0x90) && src === X) out.push(ins(JMP | JEQ | K, XR, 0, 0, 0, FAIL)); // divide by X = 0: no match
        if ((op === 0x30 || op === 0x90) && src === K && c.k === 0) {
          out.push(ja(FAIL));
          break;
        }
        if ((op === 0x60 || op === 0x70) && src === K && c.k >= 32) {
          out.push(mov32K(A, 0));
          break;
        }
        if ((op === 0x60 || op === 0x70) && src === X) {
          // classic BPF shifts by X: 0 once X > 31; eBPF would shift by X mod 32
          out.push(ins(JMP | JGT | K, XR, 0, 2, 31), ins(ALU | op | X, A, XR, 0, 0), ins(JMP | JA, 0, 0, 1, 0), mov32K(A, 0));
          break;
        }
        out.push(src === X ? ins(ALU | op | X, A, XR, 0, 0) : ins(ALU | op | K, A, 0, 0, c.k));
        break;
      }
      case 0x05: {
        // JMP: 32-bit compares of A with K or X
        const op = c.code & 0xf0;
        if (op === 0x00) {
          const to = i + 1 + (c.k | 0);
          if (to < 0) throw new Error('classic BPF jump out of the program');
          // A round of a loop: one fewer left, none left ends the filter with no match. X and the copy's
          // length go through memory, so the verifier sees the same state at the top of every round but
          // for the count (it would otherwise follow their ranges, narrowed by every path through the
          // rounds before, past its instruction limit). Neither range is what keeps the loads safe: each
          // load checks its offset against XT_CAP_MAX first.
          if (to <= i)
            out.push(
              ins(ALU | 0x10 | K, LEN, 0, 0, 1),
              ins(JMP | JEQ | K, LEN, 0, 0, 0, FAIL),
              ins(STX_MEM_W, BUF, XR, X_SPILL_OFF, 0),
              ins(LDX_MEM | 0x00, XR, BUF, X_SPILL_OFF, 0),
              ins(STX_MEM_W, BUF, N, N_SPILL_OFF, 0),
              ins(LDX_MEM | 0x00, N, BUF, N_SPILL_OFF, 0),
            );
          out.push(ja({ to: to <= i ? 'loop' : 'insn', idx: to }));
          break;
        }
        const src = c.code & 0x08;
        if (c.jt !== 0) out.push(src === X ? ins(JMP32 | op | X, A, XR, 0, 0, next(c.jt)) : ins(JMP32 | op | K, A, 0, 0, c.k, next(c.jt)));
        else if (c.jf !== 0) {
          // taken goes to the next instruction: jump on the opposite to jf where one exists
          const inverse: Record<number, number> = { 0x10: 0x50, 0x20: 0xb0, 0x30: 0xa0 }; // JEQ->JNE, JGT->JLE, JGE->JLT
          const inv = inverse[op];
          if (inv !== undefined) {
            out.push(src === X ? ins(JMP32 | inv | X, A, XR, 0, 0, next(c.jf)) : ins(JMP32 | inv | K, A, 0, 0, c.k, next(c.jf)));
            break;
          }
          out.push(src === X ? ins(JMP32 | op | X, A, XR, 0, 0, next(0)) : ins(JMP32 | op | K, A, 0, 0, c.k, next(0)));
        }
        if (c.jf !== 0) out.push(ja(next(c.jf)));
        break;
      }
      case 0x06: {
        // RET
        const src = c.code & 0x18;
        if (src === 0x00 && c.k === 0) out.push(ja(FAIL));
        else out.push(src === 0x00 ? mov32K(R0, c.k) : mov32X(R0, src === 0x10 ? A : XR), ja(EXIT));
        break;
      }
      case 0x07: // MISC: TAX, TXA
        out.push((c.code & 0xf8) === 0x00 ? mov32X(XR, A) : mov32X(A, XR));
        break;
    }
  });
  // fail: no match (only when something jumps there: a program that accepts everything has none)
  const fail = out.length;
  if (out.some((x) => x.target?.to === 'fail')) out.push(mov32K(R0, 0));
  // exit: the verdict in r0 and every other register of the filter's cleared, so that the program
  // goes on in the same state whichever way the filter ended but for the verdict. Inside a loop the
  // verifier compares states exactly, dead registers too: without this, each round of a protochain
  // and each of its ways out went through the rest of the program on its own
  const exit = out.length;
  out.push(mov32K(BUF, 0), mov32K(N, 0), mov32K(LEN, 0), mov32K(A, 0), mov32K(XR, 0), ja(BACK));
  for (const x of out) {
    if (x.target?.to === 'insn') {
      if (x.target.idx >= prog.length) throw new Error('classic BPF jump out of the program');
      x.target = { to: 'insn', idx: starts[x.target.idx]! } as Target;
    } else if (x.target?.to === 'loop') x.target = { to: 'insn', idx: bodies[x.target.idx]! };
    else if (x.target?.to === 'fail') x.target = { to: 'insn', idx: fail };
    else if (x.target?.to === 'exit') x.target = { to: 'insn', idx: exit };
  }
  return out;
}

const encode = (x: Insn, off: number): Buffer => {
  const b = Buffer.alloc(8);
  b[0] = x.code;
  b[1] = (x.dst & 0xf) | ((x.src & 0xf) << 4);
  b.writeInt16LE(off, 2);
  b.writeInt32LE(x.imm, 4);
  return b;
};

/**
 * The program's instructions with each marker replaced by a jump to its own copy of the translation,
 * appended; each copy jumps back to the instruction after its marker. Throws when there is no marker.
 */
export function splice(progInsns: Buffer, filter: Insn[]): Buffer {
  const count = progInsns.length / 8;
  const markers: number[] = [];
  for (let i = 0; i < count; i++) if (progInsns[i * 8] === 0xb7 && (progInsns[i * 8 + 1]! & 0x0f) === 0 && progInsns.readInt32LE(i * 8 + 4) === XT_FILTER_MARK) markers.push(i);
  if (markers.length === 0) throw new Error('the program has no filter marker');
  const out = [progInsns];
  let end = count;
  for (const m of markers) {
    const base = end;
    const jump = (from: number, to: number): number => {
      const off = to - (from + 1);
      if (off < -32768 || off > 32767) throw usageError('--filter: the expression is too long for one program (jump out of range)');
      return off;
    };
    const marker = Buffer.alloc(8);
    marker[0] = JMP | JA;
    marker.writeInt16LE(jump(m, base), 2);
    marker.copy(progInsns, m * 8);
    out.push(Buffer.concat(filter.map((x, j) => encode(x, x.target === undefined ? x.off : x.target.to === 'back' ? jump(base + j, m + 1) : jump(base + j, base + (x.target as { idx: number }).idx)))));
    end += filter.length;
  }
  return Buffer.concat(out);
}
