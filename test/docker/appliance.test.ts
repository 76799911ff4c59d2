/**
 * The appliance with a real Docker engine: image built offline, container in xdp mode on a veth whose
 * peer is a test namespace, rdma mode on the fixture tree, `xtrace docker`, container labels on flows.
 * Watched veth ends sit in the root namespace (host network) without an address; the peer sends to a
 * MAC that is not theirs, so the root namespace drops the frames (PACKET_OTHERHOST) after counting.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Rec, XtraceProcess, parseRecords, sleep } from '../lib/cli.js';
import { Engine, docker, removeContainer } from '../lib/docker.js';
import { CLI, ROOT, STRICT, requireKernel } from '../lib/env.js';
import { attachedHooks } from '../lib/hooks.js';
import { FixtureCopy } from '../lib/fixtures.js';
import { readCapture } from '../lib/pcap.js';
import { traffic } from '../lib/peer.js';

const engine = new Engine();
let why: string | null = 'not checked';
const IMAGE = 'xtrace:latest';
const NAME = `xtrace-test-${process.pid}`;
const BOGUS_MAC = '02:00:00:00:be:ef';

function make(target: string, vars: Record<string, string>): { code: number | null; out: string } {
  const r = spawnSync('make', ['--no-print-directory', target, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)], { cwd: ROOT, encoding: 'utf8', timeout: 1_200_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** A veth with one end in the root namespace (no address) and the other in a new namespace. */
class HostVeth {
  readonly ns = `xtD${process.pid % 10000}`;
  readonly host = `xtd${process.pid % 10000}`;
  readonly peer = `xte${process.pid % 10000}`;
  readonly ipPeer = '10.231.0.2';
  readonly ipFar = '10.231.0.1';
  constructor() {
    try {
      execFileSync('ip', ['netns', 'add', this.ns]);
      execFileSync('ip', ['link', 'add', this.host, 'type', 'veth', 'peer', 'name', this.peer, 'netns', this.ns]);
      execFileSync('sysctl', ['-qw', `net.ipv6.conf.${this.host}.disable_ipv6=1`]);
      execFileSync('ip', ['link', 'set', this.host, 'up']);
      const n = (...a: string[]): void => void execFileSync('ip', ['netns', 'exec', this.ns, ...a]);
      n('sysctl', '-qw', `net.ipv6.conf.${this.peer}.disable_ipv6=1`);
      n('ip', 'addr', 'add', `${this.ipPeer}/24`, 'dev', this.peer);
      n('ip', 'link', 'set', this.peer, 'up');
      n('ip', 'neigh', 'replace', this.ipFar, 'lladdr', BOGUS_MAC, 'dev', this.peer, 'nud', 'permanent');
    } catch (e) {
      this.destroy();
      throw e;
    }
  }
  destroy(): void {
    for (const c of [['ip', 'link', 'del', this.host], ['ip', 'netns', 'del', this.ns]])
      try {
        execFileSync(c[0]!, c.slice(1), { stdio: 'ignore' });
      } catch {
        /* gone */
      }
  }
}

/** Reads `docker logs` until a record matches. */
async function logsUntil(name: string, pred: (r: Rec) => boolean, timeoutMs = 30_000): Promise<Rec> {
  const end = Date.now() + timeoutMs;
  let out = '';
  while (Date.now() < end) {
    const r = spawnSync('docker', ['logs', name], { encoding: 'utf8' });
    out = r.stdout;
    const hit = parseRecords(out).find(pred);
    if (hit) return hit;
    if (spawnSync('docker', ['inspect', '-f', '{{.State.Running}}', name], { encoding: 'utf8' }).stdout.trim() === 'false')
      throw new Error(`container ${name} stopped: ${r.stderr.slice(-800)}`);
    await sleep(300);
  }
  throw new Error(`no matching record in docker logs within ${timeoutMs} ms: ${out.slice(-600)}`);
}


describe('docker appliance (real engine)', { concurrency: false }, () => {
  before(async () => {
    why = await engine.ensure();
    if (!why) {
      const b = make('docker-build', { IMAGE });
      if (b.code !== 0) why = `make docker-build failed: ${b.out.slice(-1500)}`;
    }
  });
  after(async () => {
    removeContainer(NAME);
    await engine.stop();
  });

  const ready = (t: Parameters<typeof requireKernel>[0]): boolean => {
    if (!requireKernel(t)) return false;
    if (!why) return true;
    if (STRICT) throw new Error(why);
    t.skip(why);
    return false;
  };

  test('docker-compose.yml is valid for the compose tool here', (t) => {
    if (!ready(t)) return;
    const compose = spawnSync('sh', ['-c', 'docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose'], { encoding: 'utf8' }).stdout.trim();
    const r = spawnSync('sh', ['-c', `${compose} -f docker-compose.yml config`], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, MODE: 'rdma', DEVICE: 'mlx5_0' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /network_mode: host/);
    assert.match(r.stdout, /MODE: rdma/);
    assert.doesNotMatch(r.stdout, /privileged: true/);
  });

  test('make docker-up MODE=xdp: exact counts in docker logs, a capture in the captures volume; make docker-down leaves nothing attached', async (t) => {
    if (!ready(t)) return;
    const v = new HostVeth();
    t.after(() => v.destroy());
    const captures = mkdtempSync(join(tmpdir(), 'xt-captures-'));
    t.after(() => rmSync(captures, { recursive: true, force: true }));
    try {
      const r = spawnSync('make', ['--no-print-directory', 'docker-up', 'MODE=xdp', `INTERFACE=${v.host}`, `CONTAINER=${NAME}`, 'XTRACE_ARGS=-o json --interval 300 --top 0 -w /captures/t.pcapng udp port 7100'], {
        cwd: ROOT, encoding: 'utf8', env: { ...process.env, XTRACE_CAPTURE_DIR: captures },
      });
      const up = { code: r.status, out: `${r.stdout}\n${r.stderr}` };
      assert.equal(up.code, 0, up.out);
      const logsErr = (): string => spawnSync('docker', ['logs', NAME], { encoding: 'utf8' }).stderr;
      for (let i = 0; i < 100 && !/ready: attached/.test(logsErr()); i++) await sleep(200);
      assert.match(logsErr(), /"message":"ready: attached [^"]*tcx\/ingress/);
      assert.equal(traffic(v.ns, 'udp-blast', v.ipFar, 7100, 500, 100, 7200), '500');
      const f = await logsUntil(NAME, (r) => r.type === 'flow' && r.src === v.ipPeer && r.dport === 7100 && r.packets === 500);
      assert.equal(f.bytes, 500 * (14 + 20 + 8 + 100));
      assert.deepEqual(attachedHooks(v.host), { xdp: 'none', tcx: 2, tc: 0 });
      const down = make('docker-down', { CONTAINER: NAME });
      assert.equal(down.code, 0, down.out);
      assert.equal(spawnSync('docker', ['inspect', NAME]).status, 1, 'container removed');
      assert.deepEqual(attachedHooks(v.host), { xdp: 'none', tcx: 0, tc: 0 });
      // the filter and the capture ran in the container; the file is on the host, finished at SIGTERM
      const cap = readCapture(join(captures, 't.pcapng'));
      assert.equal(cap.packets.length, 500);
      assert.ok(cap.packets.every((q) => q.dir === 'in' && q.origLen === 14 + 20 + 8 + 100));
      assert.equal(cap.stats[0]?.filterAccept, 500n, 'the statistics block written at SIGTERM');
    } finally {
      removeContainer(NAME);
      v.destroy();
      rmSync(captures, { recursive: true, force: true });
    }
  });

  test('make docker-up MODE=rdma on the fixture tree: deltas in docker logs', async (t) => {
    if (!ready(t)) return;
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    try {
      // compose mounts XTRACE_SYSFS_MOUNT at /host/sys; XTRACE_SYSFS_ROOT points xtrace there
      const r = spawnSync('make', ['--no-print-directory', 'docker-up', 'MODE=rdma', 'DEVICE=mlx5_0', `CONTAINER=${NAME}`, "XTRACE_ARGS=-o json --interval 300"], {
        cwd: ROOT, encoding: 'utf8', env: { ...process.env, XTRACE_SYSFS_MOUNT: f.sys, XTRACE_SYSFS_ROOT: '/host/sys' },
      });
      assert.equal(r.status, 0, r.stderr);
      await logsUntil(NAME, (x) => x.type === 'rdma' && x.device === 'mlx5_0');
      f.port('mlx5_0', 1, 'counters/port_xmit_data', 250000000000n + 777n);
      await logsUntil(NAME, (x) => x.type === 'rdma' && (x.deltas as Record<string, number>).port_xmit_data === 777);
      assert.equal(make('docker-down', { CONTAINER: NAME }).code, 0);
    } finally {
      removeContainer(NAME);
      f.destroy();
    }
  });

  test('make docker-up MODE=rdma EXPORT=vm: VictoriaMetrics beside the appliance holds the exact counters; docker-down removes both', async (t) => {
    if (!ready(t)) return;
    if (!existsSync('/usr/bin/victoria-metrics') || spawnSync('sh', ['-c', 'ss -Hltn sport = :8428 | grep -q .']).status === 0) {
      const reason = existsSync('/usr/bin/victoria-metrics') ? 'port 8428 is in use on this host' : 'needs victoria-metrics (apt-get install victoria-metrics)';
      if (STRICT) throw new Error(`appliance test cannot run here: ${reason}`);
      t.skip(reason);
      return;
    }
    // no registry here: the profile's image, made from Debian's VictoriaMetrics on the appliance's base
    const ctx = mkdtempSync(join(tmpdir(), 'xt-vm-'));
    t.after(() => rmSync(ctx, { recursive: true, force: true }));
    const VM_IMAGE = 'xtrace-test-vm:latest';
    const PROJECT = `xtrace-test-${process.pid}`;
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    try {
      copyFileSync('/usr/bin/victoria-metrics', join(ctx, 'victoria-metrics'));
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM debian:trixie-slim\nCOPY victoria-metrics /usr/bin/victoria-metrics\nENTRYPOINT ["/usr/bin/victoria-metrics"]\n');
      docker('build', '-q', '-t', VM_IMAGE, ctx);
      f.port('mlx5_0', 1, 'counters/port_xmit_data', 250000000123n);
      // a project of its own, so its vm-data volume is this test's alone
      const env = { ...process.env, XTRACE_SYSFS_MOUNT: f.sys, XTRACE_SYSFS_ROOT: '/host/sys', XTRACE_VM_IMAGE: VM_IMAGE, COMPOSE_PROJECT_NAME: PROJECT };
      const r = spawnSync('make', ['--no-print-directory', 'docker-up', 'MODE=rdma', 'EXPORT=vm', `CONTAINER=${NAME}`, 'XTRACE_ARGS=-o json --interval 500'], { cwd: ROOT, encoding: 'utf8', env });
      assert.equal(r.status, 0, r.stderr);
      const query = async (): Promise<string> => {
        try {
          await fetch('http://127.0.0.1:8428/internal/force_flush');
          return await (await fetch('http://127.0.0.1:8428/api/v1/export?match[]=node_infiniband_port_data_transmitted_bytes_total{device="mlx5_0"}')).text();
        } catch {
          return '';
        }
      };
      let got = '';
      for (let i = 0; i < 150 && !got.includes('"node_infiniband_port_data_transmitted_bytes_total"'); i++) {
        await sleep(200);
        got = await query();
      }
      const line = JSON.parse(got.trim().split('\n')[0]!) as { metric: Record<string, string>; values: number[] };
      assert.equal(line.values.at(-1), 250000000123 * 4, got);
      assert.deepEqual([line.metric.job, line.metric.device, line.metric.port], ['xtrace', 'mlx5_0', '1']);
      const down = spawnSync('make', ['--no-print-directory', 'docker-down', `CONTAINER=${NAME}`], { cwd: ROOT, encoding: 'utf8', env });
      assert.equal(down.status, 0, down.stderr);
      assert.equal(spawnSync('docker', ['inspect', `${NAME}-vm`]).status, 1, 'the VictoriaMetrics container is removed too');
    } finally {
      removeContainer(NAME);
      removeContainer(`${NAME}-vm`);
      for (const v of docker('volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`).split('\n').filter(Boolean)) spawnSync('docker', ['volume', 'rm', '-f', v]);
      spawnSync('docker', ['rmi', '-f', VM_IMAGE]);
      rmSync(ctx, { recursive: true, force: true });
      f.destroy();
    }
  });

  test('xtrace docker up / status / logs / down through the Engine API', async (t) => {
    if (!ready(t)) return;
    const v = new HostVeth();
    t.after(() => v.destroy());
    const x = (...a: string[]): { code: number | null; out: string; err: string } => {
      const r = spawnSync(process.execPath, [CLI, 'docker', ...a], { encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    try {
      const up = x('up', '--name', NAME, '--mode', 'xdp', '-i', v.host, '--args', '-o json --interval 300 --top 0');
      assert.equal(up.code, 0, up.err);
      assert.match(up.out, new RegExp(`^started ${NAME} \\(`));
      const st = JSON.parse(x('status', '--name', NAME, '-o', 'json').out) as Rec;
      assert.deepEqual([st.running, st.mode, st.image], [true, 'xdp', IMAGE]);
      const again = x('up', '--name', NAME);
      assert.equal(again.code, 2);
      assert.match(again.err, /is already running; stop it first: xtrace docker down/);
      await logsUntil(NAME, (r) => r.type === 'stats');
      traffic(v.ns, 'udp-blast', v.ipFar, 7101, 40, 10, 7201);
      await logsUntil(NAME, (r) => r.type === 'flow' && r.dport === 7101 && r.packets === 40);
      assert.match(x('logs', '--name', NAME).out, /"type":"flow"/);
      assert.equal(x('down', '--name', NAME).out, `removed ${NAME}\n`);
      const gone = x('status', '--name', NAME);
      assert.deepEqual([gone.code, gone.out], [1, `${NAME}: absent\n`]);
      assert.deepEqual(attachedHooks(v.host), { xdp: 'none', tcx: 0, tc: 0 });
    } finally {
      removeContainer(NAME);
      v.destroy();
    }
  });

  test('flows and watched IPs are labelled with the container that owns the address', async (t) => {
    if (!ready(t)) return;
    const c = `${NAME}-peer`;
    const ns = `xtL${process.pid % 10000}`;
    const inC = `xtl${process.pid % 10000}`;
    const inNs = `xtm${process.pid % 10000}`;
    let xt: XtraceProcess | null = null;
    try {
      docker('run', '-d', '--name', c, '--network', 'none', '--entrypoint', 'sleep', IMAGE, '300');
      const pid = docker('inspect', '-f', '{{.State.Pid}}', c).trim();
      execFileSync('ip', ['netns', 'add', ns]);
      execFileSync('ip', ['link', 'add', inNs, 'netns', ns, 'type', 'veth', 'peer', 'name', inC, 'netns', pid]);
      execFileSync('nsenter', ['-t', pid, '-n', 'ip', 'addr', 'add', '10.232.0.1/24', 'dev', inC]);
      execFileSync('nsenter', ['-t', pid, '-n', 'ip', 'link', 'set', inC, 'up']);
      execFileSync('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', '10.232.0.2/24', 'dev', inNs]);
      execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', inNs, 'up']);
      xt = new XtraceProcess(['xdp', '-i', inNs, '-o', 'json', '--top', '0', '--interval', '60000', '--watch-ip', '10.232.0.1', '--containers', 'on'], { ns });
      await xt.ready();
      execFileSync('ip', ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.05', '-q', '10.232.0.1']);
      const r = await xt.stop();
      assert.equal(r.code, 0, r.stderr);
      const flows = r.records.filter((x) => x.type === 'flow' && x.proto === 'icmp');
      const out = flows.find((x) => x.dir === 'egress')!;
      assert.deepEqual([out.dst, out.dst_container, out.src_container, out.packets], ['10.232.0.1', c, undefined, 3]);
      assert.equal(flows.find((x) => x.dir === 'ingress')!.src_container, c);
      assert.equal(r.records.filter((x) => x.type === 'ip').at(-1)!.container, c);
    } finally {
      await xt?.kill();
      removeContainer(c);
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
  });
});
