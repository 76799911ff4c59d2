/**
 * The registry is the one list of modes: what derives from it agrees with it, and a mode that forgot a
 * step of CONTRIBUTING.md's "Adding a mode" fails here (its files, its object's programs and slots,
 * its metric names, the Makefile, the docs).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { XtError } from '../../src/errors.js';
import { hookMetrics } from '../../src/export/metric.js';
import { limitMetrics } from '../../src/export/limit.js';
import { infinibandMetrics } from '../../src/export/rdma.js';
import { stackMetrics } from '../../src/export/stack.js';
import { flowMetrics } from '../../src/export/xdp.js';
import type { Metric } from '../../src/export/metric.js';
import { REGISTRY, applianceModes, entryOf, modeEntries } from '../../src/modes/registry.js';
import type { Counters, LimitCounters, StackCounters } from '../../src/records/index.js';
import { ROOT, STRICT } from '../lib/env.js';

const read = (f: string): string => readFileSync(`${ROOT}${f}`, 'utf8');

describe('registry', () => {
  test("the Makefile's MODES, the appliance's default MODE and the docs' MODE list are the registry's appliance modes", () => {
    const modes = applianceModes();
    assert.deepEqual(/^MODES := (.*)$/m.exec(read('Makefile'))![1]!.trim().split(/\s+/), modes);
    assert.ok(modes.includes(/ENV .*MODE=(\w+)/.exec(read('docker/Dockerfile'))![1]!));
    assert.ok(modes.includes(/MODE: \$\{MODE:-(\w+)\}/.exec(read('docker-compose.yml'))![1]!));
    assert.ok(modes.includes(/^\s+MODE: (\w+)$/m.exec(read('deploy/daemonset.yaml'))![1]!));
    assert.equal(/^Environment: `MODE` \(([^)]*)\)/m.exec(read('README.md'))![1], modes.join(', '));
    assert.equal(/^环境变量:`MODE`\(([^)]*)\)/m.exec(read('README_CN.md'))![1], modes.join('、'));
  });

  test("each mode has the files of CONTRIBUTING.md's walk-through, and the records' index exports its records", () => {
    const walkThrough = read('CONTRIBUTING.md');
    const index = read('src/records/index.ts');
    for (const { name, folder, spec } of modeEntries()) {
      const files = [
        `src/modes/${folder}/index.ts`,
        `src/modes/${folder}/options.ts`,
        `src/modes/${folder}/needs.ts`,
        `src/records/${folder}.ts`,
        `src/output/${folder}.ts`,
        `src/export/${folder}.ts`,
        `test/unit/${folder}.test.ts`,
        `test/e2e/${folder}.test.ts`,
        ...(spec.object ? [`bpf/${spec.object.replace(/\.o$/, '.c')}`, `src/modes/${folder}/layout.ts`, `src/modes/${folder}/codec.ts`, `src/modes/${folder}/slots.ts`] : []),
      ];
      for (const f of files) assert.ok(existsSync(`${ROOT}${f}`), `${name}: ${f}`);
      assert.match(index, new RegExp(`^export \\* from './${folder}\\.js';$`, 'm'), `${name}: src/records/index.ts exports ./${folder}.js`);
      for (const doc of ['README.md', 'README_CN.md']) assert.match(read(doc), new RegExp(`xtrace ${name}\\b`), `${name}: ${doc} shows it`);
    }
    // the walk-through names every kind of file the test requires
    for (const f of ['src/modes/<mode>/index.ts', 'src/modes/<mode>/options.ts', 'src/modes/<mode>/needs.ts', 'src/modes/<mode>/layout.ts', 'src/modes/<mode>/codec.ts', 'src/modes/<mode>/slots.ts', 'bpf/<mode>.bpf.c', 'src/records/<mode>.ts', 'src/output/<mode>.ts', 'src/export/<mode>.ts', 'test/unit/<mode>.test.ts', 'test/e2e/<mode>.test.ts', 'src/modes/registry.ts', 'src/records/index.ts'])
      assert.ok(walkThrough.includes(f), `CONTRIBUTING.md names ${f}`);
  });

  test('every program a slot names is in its object, and every program of the object is in a slot', async (t) => {
    const { BpfObject } = await import('../../src/bpf/object.js');
    for (const { name, spec } of modeEntries()) {
      if (!spec.object) {
        assert.equal(spec.slots, undefined, `${name}: slots without an object`);
        continue;
      }
      assert.ok(spec.slots, `${name}: an object without slots`);
      const path = `${ROOT}build/bpf/${spec.object}`;
      if (!existsSync(path)) {
        if (STRICT) throw new Error(`needs ${path} (make build)`);
        t.skip(`needs ${path} (make build)`);
        continue;
      }
      const obj = BpfObject.open(path);
      let programs: string[];
      try {
        programs = obj.programs().sort();
      } finally {
        obj.close();
      }
      const named = [...new Set((await spec.slots()).flatMap((s) => s.candidates.flatMap((c) => c.parts.map((p) => p.prog))))].sort();
      assert.deepEqual(named.filter((p) => !programs.includes(p)), [], `${name}: slots name programs ${spec.object} lacks`);
      assert.deepEqual(programs.filter((p) => !named.includes(p)), [], `${name}: programs of ${spec.object} no slot names (orphans)`);
    }
  });

  test("a mode's metrics carry its prefixes and no other mode's", () => {
    const counters = { rx_packets: 1, rx_bytes: 1, tx_packets: 1, tx_bytes: 1, non_ip_packets: 1, fragments: 1, truncated: 1, filter_passed: 1, captured: 1, capture_dropped: 1, flows: 1, flows_created: 1, flows_evicted: 1, flow_insert_failed: 1, events_sent: 1, events_suppressed: 1, events_lost: 1, ifaces: {} } as Counters;
    const flow = { type: 'flow', ts: 't', iface: 'a', dir: 'ingress', proto: 'tcp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, packets: 1, bytes: 1, pps_rate: 1, bps_rate: 1, first_seen: 't', last_seen: 't' } as const;
    const stack: StackCounters = { stages: [{ stage: 'netif_receive_skb', hook: 'tp_btf:netif_receive_skb', scope: null, packets: 1, latency_count: 1, latency_sum_ns: 1, latency_hist: [{ below_ns: 1024, count: 1 }] }], drops: { NO_SOCKET: 1 }, teardown: { QUEUE_PURGE: 1 }, events_sent: 1, events_suppressed: 1, events_lost: 1 };
    const limit = { target: 'pid', pid: 1, comm: 'x', direction: 'egress', rate_target_bytes_per_s: 1, rate_achieved_bytes_per_s: 1, passed_bytes: 1, passed_packets: 1, dropped_bytes: 1, dropped_packets: 1, congestion_signals: 1, acks_held: 1, alive: true } as LimitCounters;
    const rdma = { type: 'rdma', ts: 't', device: 'mlx5_0', port: 1, link_layer: 'Ethernet', state: 'ACTIVE', state_id: 4, phys_state: 'LinkUp', phys_state_id: 5, rate: '100 Gb/sec', rate_gbps: 100, netdev: 'eth0', netdev_up: true, interval_s: 1, counters: { port_xmit_data: 1, netdev_tx_bytes: 1, ethtool_rx_prio3_pause: 1, ethtool_rx_prio3_pause_duration: 1, ethtool_rx_discards_phy: 1, ethtool_rx_prio3_pause_transition: 1 }, deltas: {}, errors: {}, notes: [] };
    const emitted: Record<string, Metric[]> = {
      xdp: flowMetrics([flow], [{ type: 'ip', ts: 't', ip: '10.0.0.1', in_packets: 1, in_bytes: 1, out_packets: 1, out_bytes: 1 }], counters, 1),
      stack: stackMetrics(stack),
      limit: limitMetrics([limit], { events_sent: 1, events_suppressed: 1, events_lost: 1 }),
      rdma: infinibandMetrics([], [rdma as never], new Map([['mlx5_0', { owners: [{ pid: 1, comm: 'x', nccl: true, job: 'slurm:1' }], jobs: ['slurm:1'] }]]), [{ id: 'mlx5_0/1:pause', device: 'mlx5_0', port: 1 }]),
    };
    emitted.nccl = emitted.rdma!;
    const shared = [...hookMetrics([]).map((m) => m.name), 'xtrace_build_info', 'xtrace_process_', 'xtrace_nodejs_'];
    const modes = modeEntries();
    for (const { name, spec } of modes) {
      const names = emitted[name]!.filter((m) => m.samples.length).map((m) => m.name);
      assert.ok(names.length > 0, `${name}: a sample of its metrics`);
      for (const n of names) {
        assert.ok(spec.metrics.some((p) => n.startsWith(p)), `${name}: ${n} has one of its prefixes ${spec.metrics.join(', ')}`);
        assert.ok(!shared.some((p) => n.startsWith(p)), `${name}: ${n} is one of every mode's`);
        // rdma and nccl are two views of one source: the same metrics
        for (const other of modes.filter((o) => o.folder !== modes.find((m) => m.name === name)!.folder))
          assert.ok(!other.spec.metrics.some((p) => n.startsWith(p)), `${name}: ${n} also has a prefix of ${other.name}`);
      }
    }
  });

  test("options that go together are data: limit's checks, each one line and exit 2, before anything runs", async () => {
    const limit = entryOf(['limit']);
    const base = { direction: 'egress', timescale: 1, hook: 'auto', congestionSignal: true, quiet: false, eventLimit: 100, intervalMs: 1000, output: 'text', pushLabels: {}, pushBufferSamples: 1 };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ rate: 1 }, 'limit: expected what to limit: -p PID (several allowed), --cgroup DIR or --container NAME'],
      [{ pid: [1], cgroup: '/x', rate: 1 }, 'limit: -p/--pid and --cgroup cannot be combined; give one of -p PID, --cgroup DIR, --container NAME'],
      [{ cgroup: '/x', container: 'c', rate: 1 }, 'limit: --cgroup and --container cannot be combined; give one of -p PID, --cgroup DIR, --container NAME'],
      [{ pid: [1] }, '-r/--rate: required: the limit, e.g. -r 1M (1 MiB/s), -r 100mbit'],
      [{ cgroup: '/x', rate: 1, children: true }, '--children: only with -p/--pid'],
      [{ cgroup: '/x', rate: 1, hook: 'netfilter' }, '--hook netfilter: only with -p/--pid (a netfilter hook cannot see cgroups); use --hook cgroup'],
    ];
    for (const [o, message] of cases)
      await assert.rejects(limit.run({ ...base, ...o }), (e: unknown) => e instanceof XtError && e.exitCode === 2 && e.message === message, message);
  });

  test('every command path is unique; --help of each lists its options; probe --mode takes the modes', () => {
    const paths = REGISTRY.map((e) => e.path.join(' '));
    assert.equal(new Set(paths).size, paths.length);
    const help = execFileSync(process.execPath, [`${ROOT}dist/src/cli.js`, 'probe', '--help'], { encoding: 'utf8' });
    assert.match(help, new RegExp(`only this mode: ${modeEntries().map((m) => m.name).join(' \\| ')}`));
    const top = execFileSync(process.execPath, [`${ROOT}dist/src/cli.js`, '--help'], { encoding: 'utf8' });
    assert.match(top, new RegExp(`MODE +the command to run when none is given \\(${applianceModes().join(' \\| ')};`));
  });
});
