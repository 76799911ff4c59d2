/** src/bpf/layout.ts against the BTF of the built object: every size, offset and enum value. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import type { ObjectLayout } from '../../src/bpf/layout.js';
import { modeEntries } from '../../src/modes/registry.js';
import { BPF_OBJECT, ROOT, STRICT, hasCommand } from '../lib/env.js';
import { CAP_FROM_DATA, XT_CAP_MAX, XT_FILTER_MARK } from '../../src/capture/cbpf.js';
import { bytesPerFlow } from '../../src/modes/xdp/options.js';

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  members?: Array<{ name: string; bits_offset: number }>;
  values?: Array<{ name: string; val: number }>;
  vars?: Array<{ type_id: number; offset: number; size: number }>;
}

function btf(object: string): BtfType[] | string {
  if (!existsSync(object)) return `needs ${object} (make build)`;
  if (!hasCommand('bpftool')) return 'needs bpftool';
  return (JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })) as { types: BtfType[] }).types;
}

// every mode with a kernel object: its layout.ts's LAYOUT against that object's BTF
const OBJECTS: Array<ObjectLayout & { object: string }> = [];
for (const m of modeEntries())
  if (m.spec.object) OBJECTS.push({ object: `${ROOT}build/bpf/${m.spec.object}`, ...((await import(`../../src/modes/${m.folder}/layout.js`)) as { LAYOUT: ObjectLayout }).LAYOUT });

for (const { object, structs: STRUCTS, enums: ENUMS, config: CONFIG, configVar } of OBJECTS)
test(`struct layouts match the BTF of ${object.replace(ROOT, '')}`, (t) => {
  const types = btf(object);
  if (typeof types === 'string') {
    if (STRICT) throw new Error(types);
    return t.skip(types);
  }
  for (const s of STRUCTS) {
    const b: BtfType | undefined = types.find((x) => x.kind === 'STRUCT' && x.name === s.name);
    assert.ok(b, `${s.name} is in the BTF`);
    assert.equal(b.size, s.size, `${s.name} size`);
    const fromBtf: Record<string, number> = Object.fromEntries(b.members!.map((m) => [m.name, m.bits_offset / 8]));
    assert.deepEqual(fromBtf, s.fields, `${s.name} fields and offsets`);
  }
  for (const [name, values] of Object.entries(ENUMS)) {
    const e: BtfType | undefined = types.find((x) => x.kind === 'ENUM' && x.name === name);
    assert.ok(e, `enum ${name} is in the BTF`);
    assert.deepEqual(Object.fromEntries(e.values!.map((v) => [v.name, v.val])), values, `enum ${name}`);
  }
  // The config is written at offset 0 of .rodata.
  const rodata = types.find((x) => x.kind === 'DATASEC' && x.name === '.rodata')!;
  const cfgVar = types.find((x) => x.kind === 'VAR' && x.name === configVar)!;
  const v = rodata.vars!.find((x) => x.type_id === cfgVar.id)!;
  assert.deepEqual([v.offset, v.size], [0, CONFIG.size]);
});

test('the filter translation addresses struct xt_cap and uses flow.h\'s constants as the object has them', (t) => {
  const types = btf(BPF_OBJECT);
  if (typeof types === 'string') {
    if (STRICT) throw new Error(types);
    return t.skip(types);
  }
  const cap = types.find((x) => x.kind === 'STRUCT' && x.name === 'xt_cap')!;
  const at = (name: string): number => cap.members!.find((m) => m.name === name)!.bits_offset / 8;
  assert.deepEqual(CAP_FROM_DATA, { mem: at('mem') - at('data'), wire_len: at('wire_len') - at('data'), x_spill: at('x_spill') - at('data'), n_spill: at('n_spill') - at('data'), a_spill: at('a_spill') - at('data') });
  const consts = Object.fromEntries(types.find((x) => x.kind === 'ENUM' && x.name === 'xt_flow_const')!.values!.map((v) => [v.name, v.val >>> 0]));
  assert.equal(XT_CAP_MAX, consts.XT_CAP_MAX);
  assert.equal(XT_FILTER_MARK, consts.XT_FILTER_MARK);
  // --max-flows' memory bound counts the key and the value as the object has them
  assert.equal(bytesPerFlow(2), (types.find((x) => x.kind === 'STRUCT' && x.name === 'xt_flow_key')!.size!) + 64 + 2 * Math.ceil(types.find((x) => x.kind === 'STRUCT' && x.name === 'xt_flow_val')!.size! / 8) * 8);
});
