import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { attr, parseAttrs, str, u32, u8 } from '../../src/bpf/netlink.js';
import { infinibandMetrics } from '../../src/export/rdma.js';
import { jobLabel, jobOf, jobOfCgroup } from '../../src/host/jobs.js';
import { driverOf, familyOf, isTraffic } from '../../src/modes/rdma/drivers.js';
import { pauseTotal, pfcDeltas, pfcStatNames } from '../../src/modes/rdma/pfc.js';
import { AlertTracker, ncclRecords, rdmaRecord } from '../../src/modes/rdma/records.js';
import { type NcclRecord, ethtoolKind } from '../../src/records/index.js';
import { Owners } from '../../src/modes/rdma/owners.js';
import { RdmaSampler, rateSources } from '../../src/modes/rdma/sampler.js';
import { counterDelta, discover, ibdev2netdevLine, pciTopo, rdmaProcesses, readCounters } from '../../src/sysfs/rdma.js';
import { FIXTURES, FixtureCopy } from '../lib/fixtures.js';

const fixture = { sys: `${FIXTURES}/sysfs`, proc: `${FIXTURES}/proc` };
const thresholds = { imbalanceRatio: 0.5, minGbps: 1, errorThreshold: 0, congestionRate: 1000, pauseRate: 100, discardRate: 1 };

function withCopy(body: (f: FixtureCopy) => void): void {
  const f = new FixtureCopy();
  try {
    body(f);
  } finally {
    f.destroy();
  }
}

describe('rdma sysfs', () => {
  test('discovers devices, ports, net devices and the nearest GPU', () => {
    const ds = discover(fixture);
    assert.deepEqual(ds.map((d) => d.name), ['mlx5_0', 'mlx5_1', 'mlx5_2', 'mlx5_3']);
    const [cx6, cx7, dx, cx5] = ds;
    assert.deepEqual(
      [cx6!.hcaType, cx6!.fwVer, cx6!.boardId, cx6!.nodeGuid, cx6!.pci, cx6!.numaNode, cx6!.nearestGpu],
      ['MT4123', '20.39.2048', 'MT_0000000222', '0c42:a103:00f2:1e84', '0000:3d:00.0', 0, { pci: '0000:3e:00.0', topo: 'PIX' }],
    );
    assert.deepEqual(cx6!.ports[0], {
      device: 'mlx5_0', port: 1, state: 'ACTIVE', stateId: 4, physState: 'LinkUp', physStateId: 5, rateText: '100 Gb/sec (4X EDR)',
      rateGbps: 100, linkLayer: 'Ethernet', lid: '0x0', netdev: 'ens1f0np0', netdevUp: true,
    });
    assert.deepEqual([cx7!.ports[0]!.linkLayer, cx7!.ports[0]!.rateGbps, cx7!.ports[0]!.lid, cx7!.ports[0]!.netdev, cx7!.nearestGpu], ['InfiniBand', 400, '0x12', 'ibp177s0', { pci: '0000:c1:00.0', topo: 'NODE' }]);
    assert.equal(dx!.nearestGpu?.topo, 'NODE');
    assert.deepEqual([cx5!.ports[0]!.state, cx5!.ports[0]!.physState, cx5!.ports[0]!.rateGbps, cx5!.ports[0]!.netdevUp], ['DOWN', 'Disabled', 10, false]);
    assert.deepEqual(ds.flatMap((d) => d.ports.map(ibdev2netdevLine)), [
      'mlx5_0 port 1 ==> ens1f0np0 (Up)', 'mlx5_1 port 1 ==> ibp177s0 (Up)', 'mlx5_2 port 1 ==> ens2f0np0 (Up)', 'mlx5_3 port 1 ==> enp5s0f0 (Down)',
    ]);
  });

  test('PCI topology classes as nvidia-smi topo -m names them', () => {
    const nic = ['pci0000:3a', '0000:3a:00.0', '0000:3b:00.0', '0000:3c:00.0', '0000:3d:00.0'];
    assert.equal(pciTopo(nic, ['pci0000:3a', '0000:3a:00.0', '0000:3b:00.0', '0000:3c:01.0', '0000:3e:00.0'], 0, 0), 'PIX');
    assert.equal(pciTopo(nic, ['pci0000:3a', '0000:3a:00.0', '0000:3b:00.0', '0000:3c:01.0', '0000:3f:00.0', '0000:40:00.0'], 0, 0), 'PXB');
    assert.equal(pciTopo(nic, ['pci0000:3a', '0000:3a:02.0', '0000:50:00.0'], 0, 0), 'PHB');
    assert.equal(pciTopo(nic, ['pci0000:5d', '0000:5d:00.0', '0000:5e:00.0'], 0, 0), 'NODE');
    assert.equal(pciTopo(nic, ['pci0000:d7', '0000:d7:00.0', '0000:d8:00.0'], 0, 1), 'SYS');
  });

  test('counters: device-level hw_counters (switchdev), N/A (no PMA) absent, counters_ext, net device statistics', () => {
    const dx = readCounters(fixture, { device: 'mlx5_2', port: 1, netdev: 'ens2f0np0' });
    assert.deepEqual(dx.get('np_cnp_sent'), { group: 'hw_counters', value: 0n });
    assert.deepEqual(dx.get('netdev_tx_bytes'), { group: 'netdev', value: 2000n });
    assert.equal(dx.has('lifespan'), false);
    const old = readCounters(fixture, { device: 'mlx5_3', port: 1, netdev: null });
    assert.equal(old.has('port_xmit_data'), false, 'N/A (no PMA) is absent, not zero');
    assert.deepEqual(old.get('port_xmit_data_64'), { group: 'counters_ext', value: 400n });
  });

  test('deltas: 32-bit wrap, reset, 64-bit reset, saturation', () => {
    assert.deepEqual(counterDelta('out_of_sequence', 'hw_counters', 4294967290n, 5n), { delta: 11n, note: 'wrapped' });
    assert.deepEqual(counterDelta('out_of_sequence', 'hw_counters', 12n, 3n), { delta: 3n, note: 'reset' });
    assert.deepEqual(counterDelta('np_cnp_sent', 'hw_counters', 5000n, 10n), { delta: 10n, note: 'reset' });
    assert.deepEqual(counterDelta('symbol_error', 'counters', 65000n, 65535n), { delta: 535n, note: 'saturated' });
    assert.deepEqual(counterDelta('port_xmit_data', 'counters', 4294967000n, 4294967295n), { delta: 295n, note: 'saturated' });
    assert.deepEqual(counterDelta('port_xmit_data', 'counters', 5000000000n, 5000000100n), { delta: 100n });
  });

  test('sampler: exact rates and utilisation from data counters x 4', () =>
    withCopy((f) => {
      const s = new RdmaSampler(f.roots, { device: 'mlx5_0' });
      const first = s.sample(1000);
      assert.equal(first.ports[0]!.dtS, null, 'no rates from one read');
      assert.equal(first.ports[0]!.txBytesPerS, undefined);
      f.port('mlx5_0', 1, 'counters/port_xmit_data', 250000000000n + 1250000000n); // 5 GB in 4-byte units
      f.port('mlx5_0', 1, 'counters/port_rcv_data', 240000000000n + 625000000n);
      f.port('mlx5_0', 1, 'counters/port_xmit_packets', 2000000000n + 4000000n);
      f.port('mlx5_0', 1, 'hw_counters/out_of_sequence', 15);
      const p = s.sample(3000).ports[0]!;
      assert.equal(p.dtS, 2);
      assert.equal(p.txBytesPerS, 2.5e9);
      assert.equal(p.rxBytesPerS, 1.25e9);
      assert.equal(p.txPacketsPerS, 2e6);
      assert.equal(p.rxPacketsPerS, 0);
      assert.equal(p.txUtil, 0.2); // 2.5 GB/s of 100 Gb/s = 12.5 GB/s
      assert.equal(p.rxUtil, 0.1);
      const r = rdmaRecord(p, 't', 0);
      assert.deepEqual(r.errors, { out_of_sequence: 3 });
      assert.equal(r.deltas.port_xmit_data, 1250000000);
      assert.equal(r.counters.rx_write_requests, 4000000000);
    }));

  test('sampler: wrap and reset between reads are reported', () =>
    withCopy((f) => {
      const s = new RdmaSampler(f.roots, { device: 'mlx5_0' });
      s.sample(0);
      f.port('mlx5_0', 1, 'hw_counters/rx_write_requests', 100); // from 4000000000: wrapped at 2^32
      f.port('mlx5_0', 1, 'hw_counters/np_cnp_sent', 7); // from 5000: a 64-bit counter went back: reset
      const p = s.sample(1000).ports[0]!;
      assert.deepEqual(p.deltas.get('rx_write_requests'), { delta: 294967396n, note: 'wrapped' });
      assert.deepEqual(p.deltas.get('np_cnp_sent'), { delta: 7n, note: 'reset' });
      assert.deepEqual(p.notes, ['np_cnp_sent was reset (5000 -> 7)', 'rx_write_requests wrapped at 32 bits']);
    }));

  test('exported counters keep rising across a 32-bit wrap: the records and xtrace_*_total are monotonic', () =>
    withCopy((f) => {
      const s = new RdmaSampler(f.roots, { device: 'mlx5_0' });
      const value = (t: number): number => {
        const r = rdmaRecord(s.sample(t).ports[0]!, 'ts', 0);
        const m = infinibandMetrics([], [r], new Map()).find((x) => x.name === 'xtrace_infiniband_out_of_sequence_total')!;
        assert.equal(m.samples[0]!.value, r.counters.out_of_sequence);
        return r.counters.out_of_sequence!;
      };
      f.port('mlx5_0', 1, 'hw_counters/out_of_sequence', 4294967290);
      assert.equal(value(0), 4294967290);
      f.port('mlx5_0', 1, 'hw_counters/out_of_sequence', 4); // the hardware counter wrapped: +10
      assert.equal(value(1000), 4294967300);
      f.port('mlx5_0', 1, 'hw_counters/out_of_sequence', 9);
      assert.equal(value(2000), 4294967305);
    }));

  test('sampler: old kernel uses counters_ext; a device that vanishes is reported and the rest go on', () =>
    withCopy((f) => {
      const s = new RdmaSampler(f.roots);
      s.sample(0);
      f.port('mlx5_3', 1, 'counters_ext/port_xmit_data_64', 400 + 250);
      f.remove('class/infiniband/mlx5_2');
      f.remove('class/infiniband/mlx5_0/ports/1/hw_counters/out_of_buffer');
      const r = s.sample(500);
      assert.deepEqual(r.events, ['mlx5_0/1: counter out_of_buffer vanished', 'mlx5_2: device disappeared; its counters are no longer read']);
      assert.deepEqual(r.ports.map((p) => p.info.device), ['mlx5_0', 'mlx5_1', 'mlx5_3']);
      assert.equal(r.ports[2]!.txBytesPerS, 2000); // 250 x 4 bytes in 0.5 s
      assert.equal(s.sample(1000).events.length, 0, 'said once');
    }));

  test('processes holding uverbs devices, and which map libnccl', () => {
    assert.deepEqual(rdmaProcesses(fixture), [
      { pid: 4242, comm: 'python3', devices: ['mlx5_0', 'mlx5_1'], nccl: true },
      { pid: 5151, comm: 'ib_write_bw', devices: ['mlx5_2'], nccl: false },
    ]);
  });

  test('nccl: imbalance by utilisation across rails of different speeds; moving error counters and rate downgrades are flagged', () =>
    withCopy((f) => {
      const s = new RdmaSampler(f.roots);
      s.sample(0);
      // port_xmit_data counts 4-byte words; over 1 s: 79 Gbit/s = 2,468,750,000 words
      f.port('mlx5_0', 1, 'counters/port_xmit_data', 250000000000n + 2468750000n); // 100G rail at 79%
      f.port('mlx5_1', 1, 'counters/port_xmit_data', 90000000000n + 9875000000n); // 400G rail at 316 Gbit/s: 79%
      f.port('mlx5_2', 1, 'counters/port_xmit_data', 1000n + 625000000n); // 20 Gbit/s ...
      f.port('mlx5_2', 1, 'counters/link_downed', 1);
      f.port('mlx5_2', 1, 'rate', '100 Gb/sec (4X EDR)'); // ... on a rail down from 200G to 100G: 20%
      const ports = s.sample(1000).ports;
      const owners = new Owners(f.roots).read(['mlx5_0', 'mlx5_1', 'mlx5_2', 'mlx5_3'].map((name) => ({ name, driver: 'mlx5' })));
      const recs = ncclRecords(ports, owners, 't', thresholds);
      const by = (d: string) => recs.find((r) => r.device === d)!;
      assert.equal(by('mlx5_0').tx_gbps, 79);
      assert.equal(by('mlx5_0').tx_util, 0.79);
      assert.equal(by('mlx5_1').tx_util, 0.79);
      assert.deepEqual(by('mlx5_0').alerts, [], 'a 100G rail at 79% is as busy as a 400G rail at 79%');
      assert.deepEqual(by('mlx5_1').alerts, []);
      assert.deepEqual(by('mlx5_0').processes, [{ pid: 4242, comm: 'python3', nccl: true, job: 'slurm:77001', qps: 0 }]);
      assert.deepEqual(by('mlx5_0').jobs, ['slurm:77001']);
      assert.deepEqual(by('mlx5_2').jobs, ['pod:0f5e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b']);
      assert.equal(by('mlx5_0').qp_counters, 'none bound: rdma statistic qp set link mlx5_0/1 auto type on pid on binds one a process');
      assert.equal(by('mlx5_0').driver, 'mlx5');
      assert.equal(by('mlx5_0').bytes_source, 'counters');
      assert.deepEqual(by('mlx5_2').alerts, [
        'link_downed +1',
        'link rate changed from 200 to 100 Gb/s (100 Gb/sec (4X EDR))',
        'imbalance: 20% utilised (20.00 Gbit/s of 100G), 0.25 of mlx5_0/1 (79% of 100G)',
      ]);
      assert.deepEqual(by('mlx5_2').alert_ids, ['mlx5_2/1:error:link_downed', 'mlx5_2/1:rate', 'mlx5_2/1:imbalance']);
      assert.deepEqual(by('mlx5_3').alerts, ['port DOWN/Disabled']);
      assert.deepEqual(by('mlx5_3').congestion, { port_xmit_wait: 0 }, 'no hw_counters: the CNP/ECN counters are absent, not zero');
      const lenient = ncclRecords(ports, new Map(), 't', { ...thresholds, imbalanceRatio: 0.05, errorThreshold: 1 });
      assert.deepEqual(lenient.find((r) => r.device === 'mlx5_2')!.alerts, ['link rate changed from 200 to 100 Gb/s (100 Gb/sec (4X EDR))']);
    }));

  test('alerts are raised once, cleared once, with stable ids', () => {
    const rail = (alerts: Array<[string, string]>): NcclRecord =>
      ({ type: 'nccl', device: 'mlx5_1', port: 1, jobs: ['slurm:1'], alerts: alerts.map((a) => a[1]), alert_ids: alerts.map((a) => a[0]) }) as unknown as NcclRecord;
    const tr = new AlertTracker();
    const imb: [string, string] = ['mlx5_1/1:imbalance', 'imbalance: 20% utilised'];
    const err: [string, string] = ['mlx5_1/1:error:symbol_error', 'symbol_error +3'];
    const t = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    assert.deepEqual(tr.update([rail([imb])], t(0)).map((a) => [a.id, a.state]), [['mlx5_1/1:imbalance', 'raised']]);
    assert.deepEqual(tr.update([rail([imb, err])], t(5)).map((a) => [a.id, a.state]), [['mlx5_1/1:error:symbol_error', 'raised']], 'a lasting condition is not raised again');
    const cleared = tr.update([rail([err])], t(10));
    assert.deepEqual(cleared, [
      { type: 'alert', ts: t(10), id: 'mlx5_1/1:imbalance', state: 'cleared', device: 'mlx5_1', port: 1, message: 'imbalance: 20% utilised (lasted 10 s)', since: t(0), jobs: ['slurm:1'] },
    ]);
    assert.deepEqual(tr.update([rail([err])], t(15)), []);
  });

  test('a saturated counter is said once, until it is reset', () =>
    withCopy((f) => {
      const s = new RdmaSampler(f.roots, { device: 'mlx5_0' });
      s.sample(0);
      const notes = (): string[] => s.sample((n += 1000)).ports[0]!.notes.filter((x) => x.includes('symbol_error'));
      let n = 0;
      f.port('mlx5_0', 1, 'counters/symbol_error', 65535);
      assert.deepEqual(notes(), ['symbol_error is saturated at 65535: it no longer counts (its increases are at least what it shows) until it is reset']);
      assert.deepEqual(notes(), [], 'not repeated while it stays saturated');
      assert.deepEqual(notes(), []);
      f.port('mlx5_0', 1, 'counters/symbol_error', 0);
      assert.deepEqual(notes(), ['symbol_error was reset (65535 -> 0)']);
    f.port('mlx5_0', 1, 'counters/symbol_error', 65535);
    assert.deepEqual(notes().length, 1, 'saturated again after the reset: said again');
    }));
});

describe('rdma: drivers, jobs, pauses and discards', () => {
  /** `ethtool -S` text as a statistics map */
  const ethtoolText = (text: string): Map<string, bigint> =>
    new Map(
      text
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(': '))
        .filter((kv) => kv.length === 2)
        .map(([k, v]) => [k!, BigInt(v!)]),
    );

  test("mlx5's statistics: pause frames by direction and priority, time paused, discards; nothing counted twice", () => {
    const before = ethtoolText(readFileSync(`${FIXTURES}/ethtool/mlx5-cx6dx.txt`, 'utf8'));
    const after = new Map(before);
    const bump = (k: string, d: number): void => void after.set(k, before.get(k)! + BigInt(d));
    bump('rx_prio3_pause', 400); // the switch paused priority 3, 400 frames ...
    bump('rx_prio3_pause_duration', 250_000); // ... for 250 ms of the 2 s
    bump('tx_prio3_pause', 10);
    bump('rx_global_pause', 7); // mlx5 keeps global flow control in priority 0's counters: not added to the PFC sum
    bump('rx_discards_phy', 30);
    bump('rx_out_of_buffer', 6);
    bump('rx_prio3_pause_transition', 200);
    bump('rx_prio3_bytes', 123456);
    const deltas = new Map([...after].map(([k, v]) => [k, v - before.get(k)!]).filter(([k]) => pfcStatNames([k as string]).length) as Array<[string, bigint]>);
    const d = pfcDeltas(deltas);
    assert.equal(d.pause.rx['3'], 400);
    assert.equal(d.pause.tx['3'], 10);
    assert.equal(d.pause.rx.global, 7);
    assert.equal(pauseTotal(d.pause.rx), 400, 'the per-priority sum, without the global count');
    assert.equal(pauseTotal({ global: 7 }), 7, 'a port without per-priority counts: its link-level pauses');
    assert.equal(d.pauseUs.rx['3'], 250_000);
    assert.deepEqual(Object.fromEntries(Object.entries(d.discards).filter(([, v]) => v > 0)), { rx_discards_phy: 30, rx_out_of_buffer: 6 });
    assert.equal(d.otherPause.rx_prio3_pause_transition, 200, 'shown as the driver names it');
    assert.equal(ethtoolKind('rx_prio3_bytes'), null, 'traffic is no pause or discard');
    assert.deepEqual(ethtoolKind('rx_queue_0_drops'), { kind: 'discard' }, "veth's drops, as veth names them");
  });

  test('drivers: where bytes and packets come from, and which counters are errors', () => {
    const rxe = driverOf({ name: 'rxe0', pciDriver: null, hwCounters: new Set(['sent_pkts', 'rcvd_pkts', 'rcvd_seq_err']) });
    assert.equal(rxe.driver, 'rxe');
    for (const n of ['rcvd_seq_err', 'completer_retry_err', 'retry_exceeded_err']) assert.notEqual(familyOf(rxe, n), null, `rxe ${n} counts`);
    assert.equal(familyOf(rxe, 'duplicate_request'), 'retrans');
    assert.equal(familyOf(rxe, 'rdma_sends'), null);
    assert.ok(isTraffic(rxe, 'rdma_sends'), 'work done, not a condition, not under other');
    const c = (names: string[]): Map<string, { group: 'hw_counters'; value: bigint }> => new Map(names.map((n) => [n, { group: 'hw_counters', value: 1n }]));
    assert.deepEqual(rateSources(rxe, c(['sent_pkts', 'rcvd_pkts', 'netdev_tx_bytes', 'netdev_rx_bytes', 'netdev_tx_packets', 'netdev_rx_packets']), 'Ethernet'), { bytesSource: 'netdev', packetsSource: 'hw_counters' });
    assert.deepEqual(rateSources(rxe, c(['sent_pkts', 'rcvd_pkts']), 'InfiniBand'), { bytesSource: null, packetsSource: 'hw_counters' }, 'no net device counts an IB port');
    const mlx5 = driverOf({ name: 'mlx5_0', pciDriver: 'mlx5_core', hwCounters: new Set() });
    assert.deepEqual(rateSources(mlx5, c(['port_xmit_data', 'port_rcv_data', 'port_xmit_packets', 'port_rcv_packets', 'netdev_tx_bytes', 'netdev_rx_bytes']), 'Ethernet'), { bytesSource: 'counters', packetsSource: 'counters' });
    const bnxt = driverOf({ name: 'bnxt_re0', pciDriver: 'bnxt_en', hwCounters: new Set() });
    assert.deepEqual(rateSources(bnxt, c(['tx_bytes', 'rx_bytes', 'tx_pkts', 'rx_pkts']), 'Ethernet'), { bytesSource: 'hw_counters', packetsSource: 'hw_counters' });
    assert.equal(driverOf({ name: 'foo0', pciDriver: 'foo', hwCounters: new Set() }).driver, 'unknown');
  });

  test('jobs from cgroup paths: Slurm (v1, v2), kubepods (cgroupfs, systemd), Docker; SLURM_JOB_ID', () => {
    const id = 'f'.repeat(64);
    assert.deepEqual(jobOfCgroup('/slurm/uid_1000/job_1234/step_0/task_0'), { kind: 'slurm', id: '1234' });
    assert.deepEqual(jobOfCgroup('/system.slice/slurmstepd.scope/job_99/step_batch/user/task_0'), { kind: 'slurm', id: '99' });
    assert.deepEqual(jobOfCgroup(`/kubepods/burstable/pod0f5e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b/${id}`), { kind: 'pod', id: '0f5e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b', container: id });
    assert.deepEqual(jobOfCgroup(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f5e1a2b_3c4d_4e5f_8a9b_0c1d2e3f4a5b.slice/cri-containerd-${id}.scope`), {
      kind: 'pod',
      id: '0f5e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
      container: id,
    });
    assert.deepEqual(jobOfCgroup(`/system.slice/docker-${id}.scope`), { kind: 'docker', id });
    assert.deepEqual(jobOfCgroup(`/docker/${id}`), { kind: 'docker', id });
    assert.equal(jobOfCgroup('/user.slice/user-1000.slice/session-3.scope'), null);
    assert.equal(jobLabel({ kind: 'docker', id }, new Map([[id, 'trainer']])), 'docker:trainer');
    assert.equal(jobLabel({ kind: 'docker', id }), `docker:${id.slice(0, 12)}`);
    assert.deepEqual(jobOf(4242, `${FIXTURES}/proc`), { kind: 'slurm', id: '77001' });
  });

  test('netlink attributes: nested tables, strings, integers', () => {
    const entry = Buffer.concat([attr(21, 17), attr(26, 2, 1), attr(28, 4242), attr(29, 'kern')]);
    const table = attr(19, Buffer.concat([attr(20, entry), attr(20, Buffer.concat([attr(21, 18)]))]));
    const top = parseAttrs(Buffer.concat([attr(2, 'rxe0'), table]));
    assert.equal(str(top, 2), 'rxe0');
    const entries = parseAttrs(top.get(19)![0]!).get(20)!.map((b) => parseAttrs(b));
    assert.deepEqual(entries.map((e) => u32(e, 21)), [17, 18]);
    assert.equal(u8(entries[0]!, 26), 2);
    assert.equal(u32(entries[0]!, 28), 4242);
    assert.equal(str(entries[0]!, 29), 'kern');
    assert.equal(u32(entries[1]!, 28), undefined);
  });
});
