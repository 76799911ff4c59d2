/**
 * Export against real servers (Debian's prometheus, victoria-metrics, prometheus-node-exporter, promtool),
 * started by the tests on loopback (the host's, or the test namespace's where xtrace runs in one).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { describe, test, type TestContext } from 'node:test';
import { cgroup2Root } from '../../src/host/procs.js';
import { XtraceProcess, sleep } from '../lib/cli.js';
import { CLI, ROOT, SLOWDOWN, requireCommands, requireKernel } from '../lib/env.js';
import { FixtureCopy } from '../lib/fixtures.js';
import { attachedHooks } from '../lib/hooks.js';
import { NetnsPair } from '../lib/netns.js';
import { echoing, server, traffic } from '../lib/peer.js';
import { NodeExporter, Prometheus, VictoriaMetrics, freePort, http, namespacePort, parseExposition } from '../lib/servers.js';

const ETH = 14;
const IP4 = 20;
const UDP = 8;

/** Skips (fails in CI) when a server the test needs is not installed. */
const needs = (t: TestContext, ...cmds: string[]): boolean => requireCommands(t, 'prometheus victoria-metrics prometheus-node-exporter', ...cmds);

/** Polls `get` until `ok` holds; returns the last value either way (the assertion names it). */
async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms * SLOWDOWN;
  let v = await get();
  while (!ok(v) && Date.now() < end) {
    await sleep(250);
    v = await get();
  }
  return v;
}

const one = (r: Array<{ value: number }>): number | undefined => (r.length === 1 ? r[0]!.value : undefined);

describe('export: real Prometheus, VictoriaMetrics, node_exporter, promtool', { concurrency: false }, () => {
  test('rdma: node_exporter reading the same fixture exports the same node_infiniband_* series, value for value', async (t) => {
    if (!needs(t, 'prometheus-node-exporter')) return;
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    // node_exporter 1.6 and later (procfs) give up on the whole class when an mlx5 port has no hw_counters
    // directory, as the fixture's pre-4.6-kernel devices have not: an empty one keeps both readers going
    for (const dev of readdirSync(join(f.sys, 'class/infiniband')))
      for (const port of readdirSync(join(f.sys, 'class/infiniband', dev, 'ports'))) {
        const hw = join(f.sys, 'class/infiniband', dev, 'ports', port, 'hw_counters');
        if (!existsSync(hw)) mkdirSync(hw);
      }
    const ne = new NodeExporter(await freePort(), f.sys);
    const x = new XtraceProcess(['rdma', '-o', 'json', '--interval', '200', '--sysfs-root', f.sys, '--metrics-listen', '127.0.0.1:0']);
    t.after(() => x.kill());
    try {
      await Promise.all([ne.start(), x.ready()]);
      const theirs = parseExposition((await ne.get('/metrics')).body, 'node_infiniband_');
      const ours = parseExposition(await (await fetch(x.metricsUrl())).text(), 'node_infiniband_');
      assert.ok(theirs.size > 50, `node_exporter exports the fixture (${theirs.size} series)`);
      assert.deepEqual([...ours].sort(), [...theirs].sort());
      assert.equal((await x.stop()).code, 0);
    } finally {
      await x.kill();
      await ne.destroy();
      f.destroy();
    }
  });

  test('xdp: Prometheus scraping, Prometheus remote-write and VictoriaMetrics import each return the exact packets and bytes sent', async (t) => {
    if (!requireKernel(t) || !needs(t, 'prometheus', 'victoria-metrics')) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const metricsPort = namespacePort();
    const prom = new Prometheus(namespacePort(), p.nsA, [`127.0.0.1:${metricsPort}`]);
    const vm = new VictoriaMetrics(namespacePort(), p.nsA);
    let x: XtraceProcess | null = null;
    try {
      await Promise.all([prom.start(), vm.start()]);
      x = new XtraceProcess(
        [
          'xdp', '-i', p.ifA, '-o', 'json', '--interval', '500', '--watch-ip', p.ipA,
          '--metrics-listen', `127.0.0.1:${metricsPort}`,
          '--remote-write', `${prom.base}/api/v1/write`,
          '--victoriametrics', vm.base,
          '--push-label', 'site=lab',
        ],
        { ns: p.nsA, env: { host_ip: p.ipA } },
      );
      await x.ready();
      const N = 300;
      const SIZE = 200;
      await echoing(p.nsA, p.ipA, [9000], () => assert.equal(traffic(p.nsB, 'udp-send', p.ipA, 9000, N, SIZE, 40000), String(N)));
      // the pair has static neighbours and no IPv6: the link carries the datagrams and their echoes alone
      await x.waitFor((r) => r.type === 'stats' && r.rx_packets === N && r.tx_packets === N);
      const frame = ETH + IP4 + UDP + SIZE;
      const want = { in: [N, N * frame], out: [N, N * frame] };
      const series = (job: string, name: string, dir: string): string => `${name}{job="${job}",iface="${p.ifA}",direction="${dir}"}`;
      for (const job of ['scrape', 'xtrace']) {
        for (const dir of ['in', 'out'] as const) {
          const packets = await until(() => prom.query(series(job, 'xtrace_packets_total', dir)), (r) => one(r) === N);
          assert.equal(one(packets), want[dir][0], `${job} ${dir} packets: ${JSON.stringify(packets)}`);
          assert.equal(one(await prom.query(series(job, 'xtrace_bytes_total', dir))), want[dir][1], `${job} ${dir} bytes`);
        }
        const flow = await prom.query(`xtrace_flow_bytes_total{job="${job}",direction="in",src="${p.ipB}",sport="40000",dst="${p.ipA}",dport="9000"}`);
        assert.equal(one(flow), N * frame, `${job}: the flow's bytes`);
        assert.equal(one(await prom.query(`xtrace_ip_packets_total{job="${job}",ip="${p.ipA}",direction="in"}`)), N);
      }
      const pushed = await prom.query(`xtrace_packets_total{job="xtrace",direction="in"}`);
      assert.deepEqual([pushed[0]!.metric.host_ip, pushed[0]!.metric.site], [p.ipA, 'lab'], 'host_ip from the environment and --push-label on pushed series');
      const fromVm = await until(
        () => vm.export(`xtrace_packets_total{iface="${p.ifA}",direction="in"}`),
        (r) => r.length === 1 && r[0]!.values.at(-1) === N,
      );
      assert.equal(fromVm.length, 1, JSON.stringify(fromVm));
      assert.equal(fromVm[0]!.values.at(-1), N);
      assert.deepEqual([fromVm[0]!.metric.job, fromVm[0]!.metric.host_ip], ['xtrace', p.ipA]);
      const vmBytes = await vm.export(`xtrace_bytes_total{iface="${p.ifA}",direction="out"}`);
      assert.equal(vmBytes[0]?.values.at(-1), N * frame);
      const r = await x.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /warn: .*push/, 'no push failed');
    } finally {
      await x?.kill();
      await prom.destroy();
      await vm.destroy();
      p.destroy();
    }
  });

  test("rdma: a 32-bit hardware counter wraps; Prometheus's increase() over the wrap equals the true delta", async (t) => {
    if (!needs(t, 'prometheus')) return;
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    f.port('mlx5_0', 1, 'hw_counters/out_of_sequence', 4294967290n);
    const metricsPort = await freePort();
    const prom = new Prometheus(await freePort(), undefined, [`127.0.0.1:${metricsPort}`]);
    const x = new XtraceProcess(['rdma', '-o', 'json', '--interval', '200', '--sysfs-root', f.sys, '--metrics-listen', `127.0.0.1:${metricsPort}`]);
    t.after(() => x.kill());
    try {
      await Promise.all([prom.start(), x.ready()]);
      const sel = 'xtrace_infiniband_out_of_sequence_total{job="scrape",device="mlx5_0",port="1"}';
      await until(() => prom.samples(`${sel}[1h]`), (r) => (r[0]?.values.length ?? 0) >= 3);
      f.port('mlx5_0', 1, 'hw_counters/out_of_sequence', 4); // +10 across 2^32
      await x.waitFor((r) => r.type === 'rdma' && r.device === 'mlx5_0' && (r.deltas as Record<string, number>).out_of_sequence === 10);
      const after = await until(() => prom.samples(`${sel}[1h]`), (r) => (r[0]?.values.filter(([, v]) => v === 4294967300).length ?? 0) >= 3);
      const values = after[0]!.values;
      // the range from the first sample to the last: increase() has nothing to extrapolate
      const [t0] = values[0]!;
      const [t1] = values.at(-1)!;
      const inc = await prom.query(`increase(${sel}[${Math.round((t1 - t0) * 1000)}ms])`, t1);
      assert.equal(one(inc), 10, `increase over the wrap: ${JSON.stringify(inc)} from ${JSON.stringify(values)}`);
      assert.ok(values.every(([, v], i) => i === 0 || v >= values[i - 1]![1]), 'the exported counter never goes down');
      assert.equal((await x.stop()).code, 0);
    } finally {
      await x.kill();
      await prom.destroy();
      f.destroy();
    }
  });

  test('a push target away for 10 s: what was measured meanwhile is buffered and resent, nothing lost; the failures counted', async (t) => {
    if (!needs(t, 'prometheus')) return;
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    const prom = new Prometheus(await freePort());
    const x = new XtraceProcess(['rdma', '-o', 'json', '--interval', '500', '-d', 'mlx5_0', '--sysfs-root', f.sys, '--metrics-listen', '127.0.0.1:0', '--remote-write', `${(await prom.start()).base}/api/v1/write`]);
    t.after(() => x.kill());
    const own = async (): Promise<Map<string, number>> => parseExposition(await (await fetch(x.metricsUrl())).text(), 'xtrace_push_');
    try {
      await x.ready();
      const sel = 'node_infiniband_port_data_transmitted_bytes_total{job="xtrace",device="mlx5_0",port="1"}';
      await until(() => prom.query(sel), (r) => r.length === 1);
      await prom.stop();
      const base = 250000000000n;
      const written: number[] = [];
      for (let i = 1; i <= 10; i++) {
        f.port('mlx5_0', 1, 'counters/port_xmit_data', base + BigInt(i));
        written.push(Number((base + BigInt(i)) * 4n));
        await sleep(1000);
      }
      const away = await own();
      assert.ok(away.get('xtrace_push_failures_total{target="remote_write"}')! >= 2, `failures counted: ${JSON.stringify([...away])}`);
      assert.ok(away.get('xtrace_push_pending_samples{target="remote_write"}')! > 0, 'samples wait');
      await prom.start();
      const back = await until(own, (m) => m.get('xtrace_push_pending_samples{target="remote_write"}') === 0, 30_000);
      assert.equal(back.get('xtrace_push_pending_samples{target="remote_write"}'), 0, 'everything resent');
      for (const reason of ['buffer_full', 'rejected', 'exit']) assert.equal(back.get(`xtrace_push_samples_dropped_total{reason="${reason}",target="remote_write"}`), 0, reason);
      const r = await x.stop();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warn: --remote-write: push to \S+ failing, retrying with backoff; \d+ samples waiting: ECONNREFUSED/);
      assert.equal(r.stderr.match(/failing, retrying/g)?.length, 1, 'logged once in that minute');
      assert.match(r.stderr, /info: --remote-write: pushing to \S+ again after \d+ s/);
      const [s] = await prom.samples(`${sel}[10m]`);
      const values = s!.values.map(([, v]) => v);
      for (const w of written) assert.ok(values.includes(w), `the value measured while Prometheus was away (${w}) arrived`);
      const times = s!.values.map(([ts]) => ts);
      const gaps = times.slice(1).map((ts, i) => ts - times[i]!);
      assert.ok(Math.max(...gaps) < 1.5, `one sample every interval, the outage included (largest gap ${Math.max(...gaps)} s)`);
    } finally {
      await x.kill();
      await prom.destroy();
      f.destroy();
    }
  });

  test("promtool check metrics passes on every mode's output; every query of deploy/grafana/xtrace.json names series xtrace exports", async (t) => {
    if (!requireKernel(t, () => (cgroup2Root() ? null : 'needs a cgroup v2 hierarchy (limit mode)')) || !needs(t, 'promtool', 'prometheus')) return;
    const names = new Set<string>();
    const check = (mode: string, body: string): void => {
      const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      assert.equal(r.status, 0, `promtool on ${mode}: ${r.stdout}${r.stderr}`);
      for (const k of parseExposition(body).keys()) names.add(k.slice(0, k.indexOf('{')));
    };
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const f = new FixtureCopy();
    t.after(() => f.destroy());
    const prom = new Prometheus(await freePort());
    const procs: XtraceProcess[] = [];
    let sleeper: ChildProcess | null = null;
    try {
      await prom.start();
      const xdp = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '200', '--watch-ip', p.ipA, '--metrics-listen', '127.0.0.1:9436'], { ns: p.nsA });
      t.after(() => xdp.kill());
      const stack = new XtraceProcess(['stack', '-o', 'json', '--stats', '--interval', '200', '--metrics-listen', '127.0.0.1:9437'], { ns: p.nsB });
      t.after(() => stack.kill());
      sleeper = spawn('sleep', ['120'], { stdio: 'ignore' });
      const limit = new XtraceProcess(['limit', '-p', String(sleeper.pid), '-r', '1M', '-o', 'json', '--interval', '200', '--metrics-listen', '127.0.0.1:0']);
      t.after(() => limit.kill());
      const rdma = new XtraceProcess(['nccl', '-o', 'json', '--interval', '200', '--sysfs-root', f.sys, '--proc-root', f.proc, '--metrics-listen', '127.0.0.1:0', '--remote-write', `${prom.base}/api/v1/write`]);
      t.after(() => rdma.kill());
      procs.push(xdp, stack, limit, rdma);
      await Promise.all(procs.map((x) => x.ready()));
      // traffic: echoed datagrams (flows, watched IP), a TCP connection (stages, latency), a SYN to a closed port (a drop)
      await echoing(p.nsA, p.ipA, [9000], () => traffic(p.nsB, 'udp-send', p.ipA, 9000, 10, 100, 40000));
      const sink = await server(p.nsB, 'tcp-sink', p.ipB, 5201);
      traffic(p.nsA, 'tcp-writes', p.ipB, 5201, 10, 1000, 5);
      await sink.output().catch(() => '');
      sink.proc.kill();
      assert.equal(traffic(p.nsA, 'tcp-try', p.ipB, 5999, 2000), 'ECONNREFUSED');
      await stack.waitFor((r) => r.type === 'stack_stats' && Object.keys(r.drops as object).length > 0);
      await sleep(500);
      check('xdp', (await http('http://127.0.0.1:9436/metrics', { ns: p.nsA })).body);
      check('stack', (await http('http://127.0.0.1:9437/metrics', { ns: p.nsB })).body);
      check('limit', await (await fetch(limit.metricsUrl())).text());
      check('nccl', await (await fetch(rdma.metricsUrl())).text());
      for (const x of procs) assert.equal((await x.stop()).code, 0, x.stderr);
      const dash = JSON.parse(readFileSync(`${ROOT}deploy/grafana/xtrace.json`, 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }>; templating: { list: Array<{ definition?: string }> } };
      const exprs = [...dash.panels.flatMap((pn) => (pn.targets ?? []).map((tg) => [pn.title, tg.expr] as const)), ...dash.templating.list.filter((v) => v.definition).map((v) => ['variables', v.definition!] as const)];
      assert.ok(exprs.length > 20);
      for (const [title, expr] of exprs) {
        const used = expr.match(/\b(?:xtrace|node)_[a-zA-Z0-9_]+/g) ?? [];
        assert.ok(used.length > 0, `${title}: ${expr}`);
        for (const n of used) assert.ok(names.has(n), `${title}: ${n} is not exported by any mode (${expr})`);
      }
    } finally {
      for (const x of procs) await x.kill();
      sleeper?.kill('SIGKILL');
      await prom.destroy();
      f.destroy();
      p.destroy();
    }
  });

  test('credentials from files: basic auth to a VictoriaMetrics that requires it, a bearer token to a remote-write receiver', async (t) => {
    if (!needs(t, 'victoria-metrics')) return;
    const dir = mkdtempSync(join(tmpdir(), 'xt-creds-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const vm = new VictoriaMetrics(await freePort(), undefined, { user: 'xt', password: 's3cr:et' });
    t.after(() => vm.destroy());
    const seen: string[] = [];
    const receiver = createServer((req, res) => {
      seen.push(`${req.headers.authorization} ${req.headers['content-encoding']} ${req.headers['x-prometheus-remote-write-version']}`);
      req.resume().on('end', () => {
        res.writeHead(req.headers.authorization === 'Bearer tok-123' ? 204 : 401);
        res.end();
      });
    });
    t.after(() => receiver.close());
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const rwUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/api/v1/write`;
    const run = (args: string[]): Promise<{ status: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const c = spawn(process.execPath, [CLI, 'rdma', '--sysfs-root', `${ROOT}test/fixtures/sysfs`, '-d', 'mlx5_0', '--interval', '300', '-o', 'json', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        c.on('close', (status) => resolve({ status, stderr }));
        setTimeout(() => c.kill('SIGINT'), 2500 * SLOWDOWN).unref();
      });
    await vm.start();
    writeFileSync(join(dir, 'basic'), 'xt:s3cr:et\n');
    writeFileSync(join(dir, 'bad'), 'xt:wrong\n');
    writeFileSync(join(dir, 'token'), 'tok-123\n');
    const ok = await run(['--victoriametrics', vm.base, '--push-basic-auth-file', join(dir, 'basic')]);
    assert.equal(ok.status, 0, ok.stderr);
    const got = await vm.export('node_infiniband_port_data_transmitted_bytes_total{device="mlx5_0"}');
    assert.equal(got[0]?.values.at(-1), 1000000000000, JSON.stringify(got));
    const bad = await run(['--victoriametrics', vm.base, '--push-basic-auth-file', join(dir, 'bad')]);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim(), `xtrace: --victoriametrics: ${vm.base}/api/v1/import answered 401 Unauthorized: check --push-basic-auth-file or --push-bearer-token-file`);
    const bearer = await run(['--remote-write', rwUrl, '--push-bearer-token-file', join(dir, 'token')]);
    assert.equal(bearer.status, 0, bearer.stderr);
    assert.ok(seen.length >= 2, 'the check and at least one push');
    assert.ok(seen.every((h) => h === 'Bearer tok-123 snappy 0.1.0'), seen.join('; '));
  });

  test('bad push input: one line naming the flag, exit 2, nothing attached', async (t) => {
    if (!requireKernel(t)) return;
    const notFound = createServer((_req, res) => {
      res.writeHead(404);
      res.end('404 page not found\n');
    });
    t.after(() => notFound.close()); // before anything can throw: a server left listening keeps the file from exiting
    await new Promise<void>((r) => notFound.listen(0, '127.0.0.1', r));
    const nfPort = (notFound.address() as { port: number }).port;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    try {
      const closed = await freePort();
      const cases: Array<[string[], Record<string, string>, RegExp]> = [
        [['--remote-write', `http://127.0.0.1:${closed}/api/v1/write`], {}, /^xtrace: --remote-write: cannot reach http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write: ECONNREFUSED; expected the URL of a remote-write receiver/],
        [['--remote-write', 'prometheus:9090'], {}, /^xtrace: --remote-write: expected a URL like http\(s\):\/\/host:port\/api\/v1\/write, got 'prometheus:9090'$/],
        [['--victoriametrics', 'http://vm.invalid:8428'], {}, /^xtrace: --victoriametrics: cannot reach http:\/\/vm\.invalid:8428\/api\/v1\/import: (ENOTFOUND|EAI_AGAIN)/],
        [['--push-basic-auth-file', '/nonexistent/creds', '--remote-write', 'http://127.0.0.1:9/x'], {}, /^xtrace: --push-basic-auth-file: cannot read '\/nonexistent\/creds': no such file; expected a file holding user:password$/],
        [[], { VICTORIAMETRICS_ENABLED: 'true' }, /^xtrace: VICTORIAMETRICS_ENABLED: set VICTORIAMETRICS_REMOTE_WRITE \(or --victoriametrics\) to the server's URL/],
        [['--push-label', 'bad-name=1'], {}, /^xtrace: --push-label: expected name=value with a label name/],
      ];
      for (const [args, env, re] of cases) {
        const r = spawnSync('ip', ['netns', 'exec', p.nsA, process.execPath, CLI, 'xdp', '-i', p.ifA, ...args], { encoding: 'utf8', env: { ...process.env, ...env, XTRACE_LOG_FORMAT: 'text' }, timeout: 30_000 });
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.match(r.stderr.trim(), re);
        const h = attachedHooks(p.ifA, p.nsA);
        assert.deepEqual(h, { xdp: 'none', tcx: 0, tc: 0 }, `${args.join(' ')}: nothing attached`);
      }
      // the host's loopback: rdma needs no namespace; a server that is no remote-write receiver
      // (asynchronously: the server answers from this process)
      const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [CLI, 'rdma', '--sysfs-root', `${ROOT}test/fixtures/sysfs`, '--remote-write', `http://127.0.0.1:${nfPort}/api/v1/write`], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        c.on('close', (status) => resolve({ status, stderr }));
      });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.trim(), `xtrace: --remote-write: http://127.0.0.1:${nfPort}/api/v1/write answered 404 Not Found; expected the URL of a remote-write receiver (Prometheus needs --web.enable-remote-write-receiver)`);
    } finally {
      p.destroy();
    }
  });
});
