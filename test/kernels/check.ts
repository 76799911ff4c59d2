/**
 * The host's half of `make test-kernels` (test/kernels/run.sh): reads what the guest wrote and asserts
 * it. Every test file run in the guest passed (twice for stack and limit: with every hook kind, and
 * with fentry turned off; three capture tests besides); the guest kernel served fentry, then kprobe, where this host serves
 * tracepoints; and it had no tcx, so the xdp tests ran the classic TC path.
 * Usage: node dist/test/kernels/check.js RESULTS_DIR GUEST_KERNEL
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { CLI } from '../lib/env.js';

const [dir, guestKernel] = process.argv.slice(2) as [string, string];
const failures: string[] = [];
const check = (ok: boolean, what: string): void => {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
  if (!ok) failures.push(what);
};
const read = (f: string): string => (existsSync(`${dir}/${f}`) ? readFileSync(`${dir}/${f}`, 'utf8') : '');

interface ProbeRow {
  type: string;
  mode?: string;
  feature?: string;
  status?: string;
  detail?: string;
}
const rows = (text: string): ProbeRow[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ProbeRow);
const serving = (rs: ProbeRow[], mode: string, feature: string): string => {
  const r = rs.find((x) => x.type === 'probe' && x.mode === mode && x.feature === feature);
  return r?.status === 'supported' ? (r.detail ?? '').split(' ')[0]! : `(${r?.status ?? 'absent'}: ${r?.detail ?? ''})`;
};

// 1. the test files
for (const [name, what] of [
  ['tests', 'xdp, stack and limit tests'],
  ['tests-nofentry', 'stack tests with XTRACE_DISABLE_HOOKS=fentry'],
  ['tests-nofentry-limit', 'limit tests of socket and process attribution with XTRACE_DISABLE_HOOKS=fentry'],
  ['tests-capture', 'capture tests (the filter spliced into XDP and classic TC programs, pcapng)'],
  ['tests-filter', 'the filter translation against tcpdump -r (protochain loops, shifts, division) under this verifier'],
  ['tests-rxe', 'Soft-RoCE (rdma_rxe): rdma, nccl and xdp on real verbs traffic'],
] as const) {
  const tap = read(`${name}.tap`);
  const n = (k: string): number => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tap)?.[1] ?? NaN);
  const skipped = [...tap.matchAll(/^\s*ok \d+ - (.*) # SKIP (.*)$/gm)].filter((m) => !m[2]!.includes('does not match pattern')).map((m) => `${m[1]}: ${m[2]}`);
  check(read(`${name}.rc`).trim() === '0' && n('fail') === 0 && n('pass') > 0, `${guestKernel}: ${what}: ${n('pass')} passed, ${n('fail')} failed, ${n('skipped')} skipped`);
  for (const s of skipped) process.stdout.write(`     skipped: ${s}\n`);
  // only for what the guest kernel lacks; any other skip is a failure, as in CI on the host
  const unexpected = skipped.filter((s) => !/needs (BPF netfilter links|tcx links)/.test(s));
  check(unexpected.length === 0, `${what}: no skip but for what ${guestKernel} lacks${unexpected.length ? `: ${unexpected.join('; ')}` : ''}`);
  if (read(`${name}.rc`).trim() !== '0') process.stdout.write(tap.split('\n').filter((l) => /not ok|error:|expected|actual/.test(l)).slice(0, 30).join('\n') + '\n');
}

// 2. the hooks chosen: the guest's, with and without fentry, against this host's
const guest = rows(read('probe.json'));
const noFentry = [...rows(read('probe-nofentry-stack.json')), ...rows(read('probe-nofentry-limit.json'))];
const host = rows(execFileSync(process.execPath, [CLI, 'probe', '-o', 'json'], { encoding: 'utf8' }));
// (netif_receive_skb: Debian's 6.1 builds __netif_receive_skb_core as a .constprop clone, so no
// fentry or kprobe can take it there; its tracepoint serves, as on this host)
const slots: Array<[string, string]> = [
  ['stack', 'stage tcp_v4_do_rcv'],
  ['stack', 'stage ip_local_deliver'],
  ['stack', 'stage sock_def_readable'],
  ['stack', 'stage ip_rcv_finish'],
  ['limit', 'hook first_send'],
  ['limit', 'hook first_recv'],
];
for (const [mode, feature] of slots) {
  const g = serving(guest, mode, feature);
  const k = serving(noFentry, mode, feature);
  const h = serving(host, mode, feature);
  check(g.startsWith('fentry:'), `${mode} ${feature}: the guest serves fentry (${g})`);
  check(k.startsWith('kprobe:'), `${mode} ${feature}: with fentry off, kprobe (${k})`);
  check(h.split(':')[0] !== g.split(':')[0], `${mode} ${feature}: this host chooses otherwise (${h})`);
}
const tcx = guest.find((r) => r.type === 'probe' && r.mode === 'xdp' && r.feature === 'link tcx');
check(tcx?.status === 'missing', `xdp: the guest kernel has no tcx links, so the xdp tests ran the classic TC filter path (${tcx?.status}: ${tcx?.detail})`);

if (failures.length) {
  process.stdout.write(`test-kernels: ${failures.length} check(s) failed; guest output:\n${read('out.log').slice(-3000)}\n`);
  process.exit(1);
}
process.stdout.write(`test-kernels: all checks passed on ${guestKernel}\n`);
