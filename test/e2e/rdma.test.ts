/** The real CLI on the fixture tree: counters rewritten between reads, exact deltas in the records. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { type Rec, XtraceProcess, sleep } from '../lib/cli.js';
import { CLI } from '../lib/env.js';
import { FixtureCopy } from '../lib/fixtures.js';

describe('rdma and nccl modes (fixture sysfs)', () => {
  test('rdma -o json: device records, then per-interval deltas and rates that add up exactly', async (t) => {
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    const x = new XtraceProcess(['rdma', '-o', 'json', '--interval', '200', '--sysfs-root', f.sys, '-d', 'mlx5_0']);
    t.after(() => x.kill());
    try {
      await x.ready();
      await x.waitFor((r) => r.type === 'rdma');
      for (let i = 1; i <= 5; i++) {
        f.port('mlx5_0', 1, 'counters/port_xmit_data', 250000000000n + BigInt(i) * 1000n);
        await sleep(120);
      }
      await sleep(300);
      const r = await x.stop();
      assert.equal(r.code, 0, r.stderr);
      const dev = r.records.find((x) => x.type === 'rdma_device')!;
      assert.deepEqual([dev.device, dev.hca_type, dev.nearest_gpu_topo], ['mlx5_0', 'MT4123', 'PIX']);
      const rs = r.records.filter((x): x is Rec & { deltas: Record<string, number>; interval_s: number; tx_bytes_per_s: number } => x.type === 'rdma');
      assert.ok(rs.length >= 3);
      assert.equal(rs.reduce((s, x) => s + x.deltas.port_xmit_data!, 0), 5000, 'every increment counted once');
      for (const x of rs) assert.equal(x.tx_bytes_per_s, Number(((x.deltas.port_xmit_data! * 4) / x.interval_s).toFixed(2)));
      assert.ok(rs.every((x) => x.device === 'mlx5_0'));
    } finally {
      await x.kill();
      f.destroy();
    }
  });

  test('nccl -o json: rails with their processes; moving error counters raise alerts', async (t) => {
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    const x = new XtraceProcess(['nccl', '-o', 'json', '--interval', '150', '--sysfs-root', f.sys, '--proc-root', f.proc]);
    t.after(() => x.kill());
    try {
      await x.ready();
      const rail = await x.waitFor((r) => r.type === 'nccl' && r.device === 'mlx5_1');
      assert.deepEqual(rail.processes, [{ pid: 4242, comm: 'python3', nccl: true, job: 'slurm:77001', qps: 0 }]);
      assert.deepEqual(rail.jobs, ['slurm:77001'], "its job, from the fixture's /proc/4242/cgroup (Slurm's cgroup v2 layout)");
      f.port('mlx5_1', 1, 'hw_counters/out_of_buffer', 9);
      const moved = await x.waitFor((r) => r.type === 'nccl' && r.device === 'mlx5_1' && (r.alerts as string[]).includes('out_of_buffer +6'));
      assert.equal((moved.retrans as Record<string, number>).out_of_buffer, 6);
      // the counter stops moving: the alert clears in the next interval, once
      await x.waitFor((r) => r.type === 'alert' && r.id === 'mlx5_1/1:error:out_of_buffer' && r.state === 'cleared');
      await x.waitFor((r) => r.type === 'nccl' && r.device === 'mlx5_1'); // a later interval
      const end = await x.stop();
      assert.equal(end.code, 0);
      const mine = end.records.filter((r) => r.type === 'alert' && r.id === 'mlx5_1/1:error:out_of_buffer').map((r) => r.state);
      assert.deepEqual(mine, ['raised', 'cleared'], 'raised once, cleared once');
    } finally {
      await x.kill();
      f.destroy();
    }
    const gone = spawnSync(process.execPath, [CLI, 'rdma', '--list', '--sysfs-root', f.sys], { encoding: 'utf8' });
    assert.equal(gone.status, 2, 'the copy is gone: --sysfs-root names no directory, bad input');
    assert.equal(gone.stderr.trim(), `xtrace: --sysfs-root: no directory ${f.sys}`);
  });

  test('--metrics-listen serves node_exporter-named metrics; N/A counters are absent', async (t) => {
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    const x = new XtraceProcess(['nccl', '-o', 'json', '--interval', '200', '--sysfs-root', f.sys, '--proc-root', f.proc, '--metrics-listen', '127.0.0.1:0']);
    t.after(() => x.kill());
    try {
      await x.ready();
      const body = await (await fetch(x.metricsUrl())).text();
      const lines = body.split('\n');
      assert.ok(lines.includes('node_infiniband_port_data_transmitted_bytes_total{device="mlx5_0",port="1"} 1000000000000'), 'port_xmit_data x 4');
      assert.ok(lines.includes('node_infiniband_rate_bytes_per_second{device="mlx5_1",port="1"} 50000000000'));
      assert.ok(lines.includes('node_infiniband_info{device="mlx5_1",board_id="MT_0000000838",firmware_version="28.39.2048",hca_type="MT4129"} 1'));
      assert.ok(lines.includes('node_infiniband_legacy_data_transmitted_bytes_total{device="mlx5_3",port="1"} 1600'));
      assert.ok(!lines.some((l) => l.startsWith('node_infiniband_port_data_transmitted_bytes_total{device="mlx5_3"')), 'N/A (no PMA) is absent, not 0');
      assert.ok(lines.includes('xtrace_infiniband_np_cnp_sent_total{device="mlx5_0",port="1"} 5000'));
      assert.ok(lines.includes('xtrace_rdma_process_info{device="mlx5_1",pid="4242",comm="python3",nccl="true",job="slurm:77001"} 1'));
      assert.ok(lines.includes('xtrace_rdma_job_info{device="mlx5_1",job="slurm:77001"} 1'));
      assert.equal((await fetch(x.metricsUrl().replace('/metrics', '/'))).status, 404);
      assert.equal((await x.stop()).code, 0);
    } finally {
      await x.kill();
      f.destroy();
    }
  });

  test('bad input: unknown device, no devices, bad interval', (t) => {
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    try {
      const run = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8', env: { ...process.env, XTRACE_LOG_FORMAT: 'text' } });
      const r1 = run('rdma', '--sysfs-root', f.sys, '-d', 'mlx5_9');
      assert.equal(r1.status, 2);
      assert.equal(r1.stderr.trim(), "xtrace: -d/--device: no RDMA device 'mlx5_9' (available: mlx5_0, mlx5_1, mlx5_2, mlx5_3)");
      const r2 = run('nccl', '--sysfs-root', f.proc);
      assert.equal(r2.status, 4);
      assert.match(r2.stderr.trim(), /^xtrace: no RDMA devices under .*class\/infiniband/);
      const r3 = run('rdma', '--sysfs-root', f.sys, '--interval', '0');
      assert.equal(r3.status, 2);
      assert.match(r3.stderr, /--interval: expected milliseconds/);
      const r4 = run('nccl', '--sysfs-root', f.sys, '--imbalance-ratio', '2');
      assert.equal(r4.status, 2);
      assert.match(r4.stderr, /--imbalance-ratio: expected a number in \(0, 1\]/);
      const r5 = run('rdma', '--sysfs-root', f.sys, '--list');
      assert.equal(r5.status, 0);
      assert.equal(r5.stdout, 'mlx5_0 port 1 ==> ens1f0np0 (Up)\nmlx5_1 port 1 ==> ibp177s0 (Up)\nmlx5_2 port 1 ==> ens2f0np0 (Up)\nmlx5_3 port 1 ==> enp5s0f0 (Down)\n');
    } finally {
      f.destroy();
    }
  });
});
