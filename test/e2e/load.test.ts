/** A program the verifier refuses: one line and exit 4; --verbose shows libbpf's verifier log; nothing attached. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, ROOT, hasCommand, requireKernel } from '../lib/env.js';
import { NetnsPair } from '../lib/netns.js';

test('a verifier rejection: exit 4, one line naming the object; --verbose adds the verifier log', (t) => {
  if (!requireKernel(t, () => (hasCommand('clang') ? null : 'needs clang'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'xt-bpf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = new NetnsPair();
  t.after(() => p.destroy());
  try {
    const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${arch}-linux-gnu`, `-I${join(ROOT, 'bpf/include')}`, '-c', join(ROOT, 'test/fixtures/bpf/unverifiable.bpf.c'), '-o', join(dir, 'flow.bpf.o')]);
    // XDP: the program that reads past its bounds is the one loaded (on a veth, auto would count at TC)
    const run = (...extra: string[]) =>
      spawnSync('ip', ['netns', 'exec', p.nsA, process.execPath, CLI, 'xdp', '-i', p.ifA, '--ingress-hook', 'xdp', ...extra], {
        encoding: 'utf8',
        env: { ...process.env, XTRACE_BPF_DIR: dir, XTRACE_LOG_FORMAT: 'text' },
      });
    const quiet = run();
    assert.equal(quiet.status, 4, quiet.stderr);
    const lines = quiet.stderr.trim().split('\n');
    assert.equal(lines.length, 1, quiet.stderr);
    assert.match(lines[0]!, new RegExp(`^xtrace: cannot load ${dir}/flow\\.bpf\\.o: the verifier refused it: .*(invalid access to packet|outside of the packet).* \\(run with --verbose for the verifier log\\)$`));
    const loud = run('--verbose');
    assert.equal(loud.status, 4);
    assert.match(loud.stderr, /debug: libbpf: [^]*(invalid access to packet|outside of the packet)/, 'the verifier says why');
    const link = JSON.parse(p.exec(p.nsA, 'ip', '-j', '-d', 'link', 'show', 'dev', p.ifA)) as Array<{ xdp?: unknown }>;
    assert.equal(link[0]!.xdp, undefined, 'nothing attached');
  } finally {
    p.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
