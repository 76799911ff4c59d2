import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LOOP_MAX, XT_CAP_MAX, bytesRead, translate } from '../../src/capture/cbpf.js';

// classic BPF instructions by hand (opcodes from linux/filter.h)
const i = (code: number, k = 0, jt = 0, jf = 0): { code: number; jt: number; jf: number; k: number } => ({ code, jt, jf, k });
const LDH_ABS = 0x28;
const LDB_ABS = 0x30;
const LD_W_ABS = 0x20;
const LDH_IND = 0x48;
const LDXB_MSH = 0xb1;
const LDX_IMM = 0x01;
const LDX_MEM = 0x61;
const LD_LEN = 0x80;
const TAX = 0x07;
const JEQ_K = 0x15;
const RET_K = 0x06;

describe('bytesRead: how much of a packet a filter can read', () => {
  test('absolute loads: the furthest end', () => {
    assert.equal(bytesRead([i(LDH_ABS, 12), i(JEQ_K, 0x800, 0, 1), i(LDB_ABS, 23), i(LD_W_ABS, 26), i(RET_K, 1)]), 30);
  });
  test('indexed loads after ldxb 4*([k]&0xf): X is at most 60', () => {
    assert.equal(bytesRead([i(LDXB_MSH, 14), i(LDH_IND, 16), i(RET_K, 1)]), 60 + 16 + 2);
    assert.equal(bytesRead([i(LDX_IMM, 100), i(LDH_IND, 16), i(LDXB_MSH, 14), i(RET_K, 1)]), 100 + 16 + 2);
  });
  test('only the length: nothing to copy; X from A or memory: the whole copy', () => {
    assert.equal(bytesRead([i(LD_LEN), i(RET_K, 1)]), 0);
    assert.equal(bytesRead([i(LDB_ABS, 14), i(TAX), i(LDH_IND, 14), i(RET_K, 1)]), XT_CAP_MAX);
    assert.equal(bytesRead([i(LDX_MEM, 1), i(LDH_IND, 14), i(RET_K, 1)]), XT_CAP_MAX);
    assert.equal(bytesRead([i(LD_W_ABS, 20_000), i(RET_K, 1)]), XT_CAP_MAX);
  });
});

describe('translate: classic BPF as libpcap runs it', () => {
  const JA = 0x05;
  const LSH_X = 0x6c;
  const RET_A = 0x16;
  test('an expression that accepts everything has no "no match" block (the verifier refuses unreachable code)', () => {
    const out = translate([i(RET_K, 262144)]);
    assert.ok(!out.some((x) => x.code === 0xb4 && x.dst === 0 && x.imm === 0), 'no r0 = 0');
  });
  test('a shift by X past 31 gives 0, as classic BPF does (eBPF would shift by X mod 32): X is checked first', () => {
    const out = translate([i(LDX_IMM, 40), i(LDB_ABS, 14), i(LSH_X), i(RET_A)]);
    const shift = out.findIndex((x) => x.code === 0x6c);
    assert.deepEqual([out[shift - 1]!.code, out[shift - 1]!.dst, out[shift - 1]!.imm, out[shift - 1]!.off], [0x25, 5, 31, 2], 'if X > 31 skip the shift');
    assert.deepEqual([out[shift + 2]!.code, out[shift + 2]!.dst, out[shift + 2]!.imm], [0xb4, 4, 0], 'A = 0');
  });
  test('a backward jump (protochain) counts its rounds in r3, the length kept in the copy, and ends with no match after LOOP_MAX', () => {
    const out = translate([i(LD_LEN), i(LDB_ABS, 14), i(JEQ_K, 1, 1, 0), i(JA, -3 >>> 0), i(RET_K, 1)]);
    // at the start (r3 stops being the length) and on the way into the loop, not on its back edge
    const sets = out.map((x, n) => (x.code === 0xb4 && x.dst === 3 && x.imm === LOOP_MAX ? n : -1)).filter((n) => n >= 0);
    assert.equal(sets.length, 2, 'r3 = LOOP_MAX at the start and at the loop head');
    const back = out.findIndex((x, n) => x.code === 0x05 && x.target?.to === 'insn' && x.target.idx <= n);
    assert.ok(back > 0, 'a back edge');
    assert.ok((out[back]!.target as { idx: number }).idx > sets[1]!, 'the back edge lands past the count');
    assert.ok(out.some((x) => x.code === 0x61 && x.dst === 4 && x.src === 1 && x.off === XT_CAP_MAX + 64), 'ld #len reads the kept length');
    assert.ok(out.some((x) => x.code === 0x14 && x.dst === 3 && x.imm === 1), 'r3 -= 1 on the back edge');
    assert.throws(() => translate([i(JA, -5 >>> 0), i(RET_K, 1)]), /out of the program/);
  });
  test('two loops one after the other: each sets its own count on the way in; the filter leaves with only r0 set', () => {
    // loop 1 at 1..3, loop 2 at 4..6
    const out = translate([i(LDB_ABS, 14), i(JEQ_K, 1, 1, 0), i(JA, -2 >>> 0), i(LDB_ABS, 15), i(JEQ_K, 2, 1, 0), i(JA, -2 >>> 0), i(RET_K, 1)]);
    assert.equal(out.filter((x) => x.code === 0xb4 && x.dst === 3 && x.imm === LOOP_MAX).length, 3, 'at the start and at each head');
    const exit = out.length - 6;
    assert.deepEqual(out.slice(exit, exit + 5).map((x) => [x.code, x.dst, x.imm]), [1, 2, 3, 4, 5].map((r) => [0xb4, r, 0]), 'r1..r5 cleared before the jump back');
    // nested loops share one count, set once: the outer one stays bounded
    const nested = translate([i(LDB_ABS, 14), i(JEQ_K, 1, 1, 0), i(JA, -2 >>> 0), i(JEQ_K, 2, 1, 0), i(JA, -5 >>> 0), i(RET_K, 1)]);
    assert.equal(nested.filter((x) => x.code === 0xb4 && x.dst === 3 && x.imm === LOOP_MAX).length, 1, 'nested: once');
  });
});
