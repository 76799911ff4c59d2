/** The limit mode's pure parts: rates in both units, the stats and summary lines, the hook slots. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { inChildPidNamespace } from '../../src/host/procs.js';
import { limitStatsLine, limitSummaryText, rateBoth } from '../../src/output/limit.js';
import { limitSlots } from '../../src/modes/limit/slots.js';
import type { LimitCounters } from '../../src/records/index.js';

const row = (over: Partial<LimitCounters> = {}): LimitCounters => ({
  target: 'pid', pid: 18702, comm: 'iperf3', direction: 'egress', rate_target_bytes_per_s: 2 * 1048576, rate_achieved_bytes_per_s: 2 * 1048576,
  passed_bytes: 1000, passed_packets: 1, dropped_bytes: 0, dropped_packets: 0, congestion_signals: 0, acks_held: 0, alive: true, ...over,
});

describe('limit renderers', () => {
  test('a rate in bytes (what -r takes) and in bits (what iperf3 -b and tc take)', () => {
    assert.equal(rateBoth(2 * 1048576), '2.00 MiB/s = 16.8 Mbit/s');
    assert.equal(rateBoth(100 * 1024), '100.00 KiB/s = 819 kbit/s');
    assert.equal(rateBoth(1.25e9), '1.16 GiB/s = 10.0 Gbit/s');
  });
  test('a process that exited is said apart from the direction', () => {
    assert.match(limitStatsLine(row({ alive: false })), /^\[limit\] PID=18702 \(iperf3\), exited, egress: target 2\.00 MiB\/s/);
    assert.match(limitStatsLine(row()), /^\[limit\] PID=18702 \(iperf3\) egress: /);
    assert.match(limitStatsLine(row({ direction: 'ingress', acks_held: 7 })), /, ACKs held 7$/);
  });
  test('the summary names the sockets paced and given back', () => {
    const text = limitSummaryText({ type: 'summary', mode: 'limit', ts: 't', duration_s: 3, hook: 'cgroup:inet_egress@/sys/fs/cgroup', limits: [row()], sockets_tagged: 2, sockets_paced: 1, sockets_restored: 1, events_sent: 0, events_suppressed: 0, events_lost: 0 });
    assert.match(text, /2 sockets tagged, 1 paced \(1 given back their own settings\)/);
  });
});

describe('limit hook slots', () => {
  test('ingress with pacing: the ingress bucket and the egress ACK gate on the same cgroup; the socket iterator', () => {
    const slots = limitSlots({ hook: 'auto', egress: false, enforceDir: '/cg', pids: null, pace: true });
    const enforce = slots.find((s) => s.name === 'enforce')!;
    assert.deepEqual(enforce.candidates[0]!.parts.map((p) => `${p.prog}@${p.target}`), ['lim_cg_ingress@inet_ingress@/cg', 'lim_cg_ackgate@inet_egress@/cg']);
    assert.deepEqual(slots.find((s) => s.name === 'pace')!.candidates[0]!.parts.map((p) => p.prog), ['lim_pace', 'lim_unpace']);
  });
  test('no cgroup hierarchy: the cgroup candidate is refused with why; netfilter goes in each namespace given', () => {
    const slots = limitSlots({ hook: 'auto', egress: true, enforceDir: null, cgroupMissing: 'no cgroup v2 here', netns: [null, '/proc/7/ns/net'], pids: { root: null, children: false } });
    const [cg, nf] = slots.find((s) => s.name === 'enforce')!.candidates;
    assert.equal(cg!.unavailable, 'no cgroup v2 here');
    assert.deepEqual(nf!.parts.map((p) => p.target), ['ipv4/local_out', 'ipv6/local_out', 'ipv4/local_out@/proc/7/ns/net', 'ipv6/local_out@/proc/7/ns/net']);
    assert.equal(slots.find((s) => s.name === 'pace'), undefined, 'no pacing asked');
  });
});

describe('PID namespace', () => {
  test("the first PID namespace is the kernel's; any other, or none readable, is told apart", () => {
    const dir = mkdtempSync(join(tmpdir(), 'xt-pidns-'));
    try {
      symlinkSync('pid:[4026531836]', join(dir, 'init'));
      symlinkSync('pid:[4026532811]', join(dir, 'child'));
      assert.equal(inChildPidNamespace(join(dir, 'init')), false);
      assert.equal(inChildPidNamespace(join(dir, 'child')), true);
      assert.equal(inChildPidNamespace(join(dir, 'absent')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
