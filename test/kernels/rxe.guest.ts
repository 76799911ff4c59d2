/**
 * rdma, nccl and xdp on a real RDMA stack: two Soft-RoCE (rdma_rxe) devices on the two ends of a veth
 * pair, in the guest kernel of `make test-kernels` (6.1; the host has no RDMA). Real verbs traffic
 * (ibv_rc_pingpong) crosses the veth. The oracles, read on their own paths: iproute2's `rdma` (the
 * kernel's RDMA netlink: QPs with pid and comm, the port counters), `ip -s` (the net device), tshark
 * (the BTH of every frame), what ibv_rc_pingpong prints (its QPNs), `ethtool -S` and node_exporter.
 * Facts: ../shared/reference/softroce.md. Run by the guest script only (file name: not *.test.js).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { roceOpcodeName } from '../../src/records/index.js';
import { type Rec, XtraceProcess, sleep } from '../lib/cli.js';

const IF = ['xtr0', 'xtr1'] as const;
const DEV = ['xrxe0', 'xrxe1'] as const;
const IP = ['10.77.0.1', '10.77.0.2'] as const;
const KROOT = process.env.XTRACE_KROOT ?? '';
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const trySh = (cmd: string, args: string[]): void => void spawnSync(cmd, args, { stdio: 'ignore' });

/** `rdma -j ...`, flattened: the kernel's RDMA netlink as iproute2 reads it. */
const rdmaJson = (...args: string[]): Array<Record<string, unknown>> => JSON.parse(sh('rdma', ['-j', ...args]) || '[]') as Array<Record<string, unknown>>;

/** A port counter as `rdma statistic show` gives it (the counters at the top level, or under "counters"). */
function rdmaStat(dev: string, name: string): number {
  const row = rdmaJson('statistic', 'show', 'link', `${dev}/1`)[0] ?? {};
  const v = (row[name] ?? (row.counters as Record<string, unknown> | undefined)?.[name]) as number | undefined;
  assert.equal(typeof v, 'number', `rdma statistic show link ${dev}/1 has ${name}: ${JSON.stringify(row)}`);
  return v!;
}

/** The net device's statistics as `ip -s` reads them (netlink, not sysfs). */
function ipStats(ifname: string): { tx_bytes: number; tx_packets: number; rx_bytes: number; rx_packets: number } {
  const j = JSON.parse(sh('ip', ['-j', '-s', 'link', 'show', 'dev', ifname]))[0] as { stats64: { tx: { bytes: number; packets: number }; rx: { bytes: number; packets: number } } };
  return { tx_bytes: j.stats64.tx.bytes, tx_packets: j.stats64.tx.packets, rx_bytes: j.stats64.rx.bytes, rx_packets: j.stats64.rx.packets };
}

const sysctls: Array<[string, string]> = [];
function sysctl(key: string, value: string): void {
  const old = sh('sysctl', ['-n', key]).trim();
  sysctls.push([key, old]);
  sh('sysctl', ['-q', '-w', `${key}=${value}`]);
}

/** A verbs process; its output, and its exit. */
class Verbs {
  readonly proc: ChildProcess;
  out = '';
  readonly done: Promise<number | null>;
  constructor(argv: string[], cgroupDir?: string) {
    // into the cgroup before the process opens the device: the job is its cgroup's
    const cmd = cgroupDir ? ['sh', '-c', `echo $$ > ${cgroupDir}/cgroup.procs && exec "$@"`, 'sh', ...argv] : argv;
    this.proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.done = new Promise((r) => this.proc.on('close', (code) => r(code)));
  }
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
  /** ibv_rc_pingpong's "local address: ... QPN 0x000011" (or remote) */
  qpn(which: 'local' | 'remote'): number {
    const m = new RegExp(`${which} address:.*QPN 0x([0-9a-f]+)`).exec(this.out);
    assert.ok(m, `${which} QPN printed: ${this.out}`);
    return parseInt(m[1]!, 16);
  }
}

const pingpong = (dev: string, port: number, extra: string[], server?: string): string[] => ['ibv_rc_pingpong', '-d', dev, '-g', '1', '-p', String(port), ...extra, ...(server ? [server] : [])];

describe('Soft-RoCE (rdma_rxe): rdma, nccl and xdp on real verbs traffic', () => {
  before(() => {
    assert.ok(process.env.XTRACE_GUEST_KERNEL, 'runs in the guest of make test-kernels (the host has no RDMA)');
    // the guest kernel's modules are unpacked beside the repository (the guest script says where)
    sh('modprobe', [...(KROOT ? ['-d', KROOT] : []), 'rdma_rxe']);
    sh('ip', ['link', 'add', IF[0], 'type', 'veth', 'peer', 'name', IF[1]]);
    for (const i of [0, 1] as const) {
      sysctl(`net.ipv6.conf.${IF[i]}.disable_ipv6`, '1'); // no neighbour discovery: every frame is the test's
      sh('ip', ['addr', 'add', `${IP[i]}/24`, 'dev', IF[i]]);
      sh('ip', ['link', 'set', IF[i], 'up']);
    }
    for (const k of ['all', IF[0], IF[1]]) {
      sysctl(`net.ipv4.conf.${k}.accept_local`, '1'); // both ends are this host's: rxe needs it (softroce.md)
      sysctl(`net.ipv4.conf.${k}.rp_filter`, '0');
    }
    // static neighbours: no ARP frame crosses the veth while the counters are compared
    const mac = (i: 0 | 1): string => (JSON.parse(sh('ip', ['-j', 'link', 'show', IF[i]]))[0] as { address: string }).address;
    sh('ip', ['neigh', 'replace', IP[1], 'lladdr', mac(1), 'dev', IF[0], 'nud', 'permanent']);
    sh('ip', ['neigh', 'replace', IP[0], 'lladdr', mac(0), 'dev', IF[1], 'nud', 'permanent']);
    for (const i of [0, 1] as const) sh('rdma', ['link', 'add', DEV[i], 'type', 'rxe', 'netdev', IF[i]]);
    // the RoCE v2 GID of the IPv4 address comes up to ~2 s after the device (index 1)
    const end = Date.now() + 20_000;
    for (const d of DEV)
      while (!(existsSync(`/sys/class/infiniband/${d}/ports/1/gid_attrs/types/1`) && readFileSync(`/sys/class/infiniband/${d}/ports/1/gid_attrs/types/1`, 'utf8').includes('RoCE v2'))) {
        assert.ok(Date.now() < end, `${d}: a RoCE v2 GID at index 1`);
        execFileSync('sleep', ['0.2']);
      }
  });

  after(() => {
    for (const d of DEV) trySh('rdma', ['link', 'delete', d]);
    trySh('ip', ['link', 'del', IF[0]]);
    for (const [k, v] of sysctls.reverse()) trySh('sysctl', ['-q', '-w', `${k}=${v}`]);
  });

  test('rdma: both devices and their net devices; packets (rxe hw_counters) and bytes (net device) over the run equal what pingpong sent', async (t) => {
    const x = new XtraceProcess(['rdma', '-o', 'json', '--interval', '1000']);
    t.after(() => x.kill());
    await x.ready(60_000);
    const before = DEV.map((d) => ({ sent: rdmaStat(d, 'sent_pkts'), rcvd: rdmaStat(d, 'rcvd_pkts') }));
    const ipBefore = IF.map(ipStats);
    const iters = 100;
    const server = new Verbs(pingpong(DEV[1], 18515, ['-n', String(iters), '-s', '1024']));
    t.after(() => server.kill());
    await sleep(1500);
    const client = new Verbs(pingpong(DEV[0], 18515, ['-n', String(iters), '-s', '1024'], IP[1]));
    t.after(() => client.kill());
    assert.equal(await client.done, 0, client.out);
    assert.equal(await server.done, 0, server.out);
    await sleep(2500); // two more intervals: the last counts are read
    const r = await x.stop('SIGINT');
    assert.equal(r.code, 0, r.stderr);
    const after = DEV.map((d) => ({ sent: rdmaStat(d, 'sent_pkts'), rcvd: rdmaStat(d, 'rcvd_pkts') }));
    const ipAfter = IF.map(ipStats);

    const devices = r.records.filter((e) => e.type === 'rdma_device') as Array<Rec & { device: string; fw_ver: string | null; ports: Array<{ netdev: string; link_layer: string }> }>;
    for (const i of [0, 1] as const) {
      const d = devices.find((e) => e.device === DEV[i]);
      assert.ok(d, `${DEV[i]} found`);
      assert.equal(d.ports[0]!.netdev, IF[i]);
      assert.equal(d.ports[0]!.link_layer, 'Ethernet');
      assert.equal(d.fw_ver, null, "rxe's empty fw_ver is unknown, not ''");
      const ports = r.records.filter((e) => e.type === 'rdma' && e.device === DEV[i]) as Array<Rec & { driver: string; bytes_source: string; packets_source: string; deltas: Record<string, number>; interval_s: number | null; tx_packets_per_s?: number }>;
      assert.ok(ports.length >= 3, `${DEV[i]}: records every interval`);
      for (const p of ports) assert.deepEqual([p.driver, p.bytes_source, p.packets_source], ['rxe', 'netdev', 'hw_counters']);
      const sum = (k: string): number => ports.reduce((a, p) => a + (p.deltas[k] ?? 0), 0);
      // 100 pingpongs of 1 KiB: one send and one ack a message each way (softroce.md), read by rdma statistic
      assert.equal(after[i]!.sent - before[i]!.sent, 2 * iters, `${DEV[i]}: rdma statistic sent_pkts`);
      assert.equal(sum('sent_pkts'), after[i]!.sent - before[i]!.sent, `${DEV[i]}: xtrace's sent_pkts over the run`);
      assert.equal(sum('rcvd_pkts'), after[i]!.rcvd - before[i]!.rcvd, `${DEV[i]}: xtrace's rcvd_pkts over the run`);
      assert.equal(sum('netdev_tx_bytes'), ipAfter[i]!.tx_bytes - ipBefore[i]!.tx_bytes, `${IF[i]}: bytes sent, as ip -s counts them`);
      assert.equal(sum('netdev_rx_packets'), ipAfter[i]!.rx_packets - ipBefore[i]!.rx_packets, `${IF[i]}: packets received, as ip -s counts them`);
      // each interval's packet rate is its delta over its length
      for (const p of ports.filter((q) => q.interval_s !== null && q.tx_packets_per_s !== undefined))
        assert.ok(Math.abs(p.tx_packets_per_s! * p.interval_s! - (p.deltas.sent_pkts ?? 0)) <= 0.01 * p.interval_s! + 0.5, `${DEV[i]}: tx_packets_per_s x interval = the delta`);
    }
  });

  test('nccl: the processes on each rail (RDMA netlink QPs, as rdma resource show qp lists them) and their jobs (a Slurm and a kubepods cgroup)', async (t) => {
    const root = '/sys/fs/cgroup';
    const base = join(root, `xt-rxe-${process.pid}`);
    const pod = '6d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a0f';
    const container = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);
    const slurmDir = join(base, 'slurm/uid_0/job_4242/step_0');
    const podDir = join(base, `kubepods/besteffort/pod${pod}/${container}`);
    const procs: Verbs[] = [];
    t.after(async () => {
      for (const p of procs) p.kill();
      await Promise.all(procs.map((p) => p.done));
      for (const d of [slurmDir, join(base, 'slurm/uid_0/job_4242'), join(base, 'slurm/uid_0'), join(base, 'slurm'), podDir, join(base, `kubepods/besteffort/pod${pod}`), join(base, 'kubepods/besteffort'), join(base, 'kubepods'), base])
        try {
          rmdirSync(d);
        } catch {
          /* gone */
        }
    });
    mkdirSync(slurmDir, { recursive: true });
    mkdirSync(podDir, { recursive: true });
    // servers that are never connected: each holds a QP (INIT) on its device while it waits
    procs.push(new Verbs(pingpong(DEV[1], 18601, []), slurmDir), new Verbs(pingpong(DEV[0], 18602, []), podDir));
    const x = new XtraceProcess(['nccl', '-o', 'json', '--interval', '1000']);
    t.after(() => x.kill());
    await x.ready(60_000);
    const railOf = async (dev: string, comm: string): Promise<Rec & { processes: Array<{ pid: number; comm: string; job: string | null; qps: number }>; jobs: string[]; qp_counters: string }> =>
      (await x.waitFor((r) => r.type === 'nccl' && r.device === dev && (r.processes as Array<{ comm: string }>).some((p) => p.comm === comm), 60_000)) as never;
    const r1 = await railOf(DEV[1], 'ibv_rc_pingpong');
    const r0 = await railOf(DEV[0], 'ibv_rc_pingpong');
    const qps = rdmaJson('resource', 'show', 'qp').filter((q) => q.comm === 'ibv_rc_pingpong');
    for (const [rail, dev, proc, job] of [
      [r1, DEV[1], procs[0]!, 'slurm:4242'],
      [r0, DEV[0], procs[1]!, `pod:${pod}`],
    ] as const) {
      const mine = rail.processes.find((p) => p.pid === proc.proc.pid);
      assert.ok(mine, `${dev}: pid ${proc.proc.pid} listed: ${JSON.stringify(rail.processes)}`);
      assert.equal(mine.comm, 'ibv_rc_pingpong');
      assert.equal(mine.job, job, `${dev}: its job, from its cgroup`);
      assert.deepEqual(rail.jobs, [job]);
      const oracle = qps.filter((q) => q.ifname === dev && q.pid === proc.proc.pid && q.type !== 'GSI');
      assert.ok(oracle.length >= 1, `rdma resource show qp lists its QP: ${JSON.stringify(qps)}`);
      assert.equal(mine.qps, oracle.length, `${dev}: its QPs, as rdma resource show qp lists them`);
      assert.equal(rail.qp_counters, 'none: rxe binds no per-QP counters');
    }
    assert.equal((await x.stop('SIGINT')).code, 0);
  });

  test("xdp: the RoCE records' opcodes and destination QPs are tshark's for the same frames, and the QPNs ibv_rc_pingpong printed", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'xt-rxe-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const pcap = join(dir, 'roce.pcapng');
    const x = new XtraceProcess(['xdp', '-i', IF[1], '-p', '-o', 'json', '-w', pcap, '--rate-limit', '0', 'udp port 4791']);
    t.after(() => x.kill());
    await x.ready(120_000);
    const server = new Verbs(pingpong(DEV[1], 18701, ['-n', '10', '-s', '512']));
    t.after(() => server.kill());
    await sleep(1500);
    const client = new Verbs(pingpong(DEV[0], 18701, ['-n', '10', '-s', '512'], IP[1]));
    t.after(() => client.kill());
    assert.equal(await client.done, 0, client.out);
    assert.equal(await server.done, 0, server.out);
    await sleep(1000);
    const r = await x.stop('SIGINT');
    assert.equal(r.code, 0, r.stderr);
    const ours = r.records.filter((e) => e.type === 'packet' && e.proto === 'roce_v2') as Array<Rec & { dir: string; roce_opcode: string; roce_qp: number }>;
    const theirs = sh('tshark', ['-r', pcap, '-d', 'udp.port==4791,infiniband', '-Y', 'infiniband', '-T', 'fields', '-e', 'infiniband.bth.opcode', '-e', 'infiniband.bth.destqp'])
      .trim()
      .split('\n')
      .map((l) => l.split('\t').map(Number) as [number, number]);
    assert.ok(theirs.length >= 20, `tshark decodes the exchange: ${theirs.length} frames`);
    // the packet log and the capture are two rings: the same frames, each in its own order
    const key = (op: string, qp: number): string => `${op} ${qp}`;
    assert.deepEqual(ours.map((e) => key(e.roce_opcode, e.roce_qp)).sort(), theirs.map(([op, qp]) => key(roceOpcodeName(op), qp)).sort(), 'every frame: opcode and destination QP');
    // frames into xtr1 go to the server's QP, frames out of it to the client's
    assert.deepEqual([...new Set(ours.filter((e) => e.dir === 'ingress').map((e) => e.roce_qp))], [server.qpn('local')]);
    assert.deepEqual([...new Set(ours.filter((e) => e.dir === 'egress').map((e) => e.roce_qp))], [client.qpn('local')]);
    assert.equal(server.qpn('remote'), client.qpn('local'));
  });

  test("ethtool -S and node_exporter agree with what rdma exports for the same devices (the net device's statistics, its discards)", async (t) => {
    const x = new XtraceProcess(['rdma', '-o', 'json', '--interval', '500', '--metrics-listen', '127.0.0.1:0']);
    t.after(() => x.kill());
    await x.ready(60_000);
    const ne = spawn('prometheus-node-exporter', ['--web.listen-address=127.0.0.1:19101', '--collector.disable-defaults', '--collector.ethtool', '--collector.netdev', '--collector.infiniband'], { stdio: 'ignore' });
    t.after(() => void ne.kill('SIGKILL'));
    await sleep(3000); // quiet: no traffic crosses the veth now (static neighbours, no IPv6)
    const get = async (url: string): Promise<string> => {
      for (let i = 0; ; i++)
        try {
          return await (await fetch(url)).text();
        } catch (e) {
          if (i > 40) throw e;
          await sleep(250);
        }
    };
    await x.waitFor((r) => r.type === 'rdma' && r.interval_s !== null, 60_000);
    const ours = await get(x.metricsUrl());
    const theirs = await get('http://127.0.0.1:19101/metrics');
    const value = (text: string, name: string, labels: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    // node_exporter names an ethtool statistic with rx -> received, tx -> transmitted
    const neName = (stat: string): string => `node_ethtool_${stat.split('_').map((w) => (w === 'rx' ? 'received' : w === 'tx' ? 'transmitted' : w)).join('_')}`;
    for (const i of [0, 1] as const) {
      const ethtool = new Map(
        sh('ethtool', ['-S', IF[i]])
          .split('\n')
          .slice(1)
          .map((l) => l.trim().split(': '))
          .filter((kv) => kv.length === 2)
          .map(([k, v]) => [k!, Number(v)]),
      );
      const discards = [...ethtool.keys()].filter((k) => /drop|discard/.test(k));
      assert.ok(discards.length > 0, `${IF[i]}: veth has drop statistics: ${[...ethtool.keys()].join(' ')}`);
      for (const stat of discards) {
        const mine = value(ours, 'xtrace_rdma_discards_total', `device="${DEV[i]}",netdev="${IF[i]}",stat="${stat}"`);
        assert.equal(mine, ethtool.get(stat), `${IF[i]} ${stat}: xtrace ${mine}, ethtool -S ${ethtool.get(stat)}`);
        assert.equal(mine, value(theirs, neName(stat), `device="${IF[i]}"`), `${IF[i]} ${stat}: node_exporter's ${neName(stat)}`);
      }
      for (const [ours_, ne_] of [
        ['xtrace_infiniband_netdev_tx_bytes_total', 'node_network_transmit_bytes_total'],
        ['xtrace_infiniband_netdev_rx_bytes_total', 'node_network_receive_bytes_total'],
        ['xtrace_infiniband_netdev_tx_packets_total', 'node_network_transmit_packets_total'],
        ['xtrace_infiniband_netdev_rx_packets_total', 'node_network_receive_packets_total'],
      ] as const) {
        const mine = value(ours, ours_, `device="${DEV[i]}",netdev="${IF[i]}"`);
        assert.ok(mine !== undefined, `${ours_} for ${DEV[i]}`);
        assert.equal(mine, value(theirs, ne_, `device="${IF[i]}"`), `${IF[i]}: ${ours_} = node_exporter's ${ne_}`);
      }
      // node_exporter's infiniband collector reads counters/, which rxe has not: what it exports for rxe, xtrace exports alike
      for (const name of ['node_infiniband_info', 'node_infiniband_state_id', 'node_infiniband_rate_bytes_per_second']) {
        const n = value(theirs, name, `device="${DEV[i]}"`);
        if (n === undefined) t.diagnostic(`node_exporter exports no ${name} for ${DEV[i]} (rxe has no counters/ directory)`);
        else assert.equal(value(ours, name, `device="${DEV[i]}"`), n, `${DEV[i]}: ${name}`);
      }
    }
    assert.equal((await x.stop('SIGINT')).code, 0);
  });
});
