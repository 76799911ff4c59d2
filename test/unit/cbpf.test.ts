import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XT_CAP_MAX, bytesRead } from '../../src/capture/cbpf.js';

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
