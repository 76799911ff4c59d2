/**
 * The xdp mode at its edges: several CPUs at once, a flood into a slow reader, a reader that goes
 * away, a flow table that evicts, VLAN tags the kernel keeps in metadata, malformed headers, and the
 * classic TC fallback beside another tool's filter. Real kernel, network namespaces, exact counts.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { clangArgs } from '../../src/bpf/build.js';
import { type Rec, XtraceProcess, finalFlows, parseRecords, sleep } from '../lib/cli.js';
import { CLI, ROOT, hasCommand, requireKernel } from '../lib/env.js';
import { attachedHooks } from '../lib/hooks.js';
import { NetnsPair } from '../lib/netns.js';
import { echoing, ethHeader, ipv4Header, rawFlows, rawFrames, traffic, udpHeader } from '../lib/peer.js';

const ETH = 14;
const IP4 = 20;
const UDP = 8;
const summaryOf = (rs: Rec[]): Rec => rs.find((r) => r.type === 'summary')!;

async function stopOk(x: XtraceProcess): Promise<Rec[]> {
  const r = await x.stop('SIGTERM');
  assert.equal(r.code, 0, `xtrace exit ${r.code}: ${r.stderr}`);
  return r.records;
}

describe('xdp mode at its edges (real kernel, network namespaces)', { concurrency: false }, () => {
  test('the packet-log rate limit holds with senders on two CPUs at once', async (t) => {
    if (!requireKernel(t, () => (hasCommand('taskset') ? null : 'needs taskset (util-linux)'))) return;
    const LIMIT = 200;
    const MS = 3000;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    try {
      // TC ingress on veth runs in the sending CPU's softirq: two pinned senders drive the program on two CPUs.
      x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '60000', '--ingress-hook', 'tc', '-p', '--protocol', 'udp', '--dst-port', '7010', '--rate-limit', String(LIMIT)], { ns: p.nsA });
      await x.ready();
      const t0 = Date.now();
      const senders = [0, 1].map((cpu) =>
        new Promise<number>((resolve, reject) => {
          const c = spawn('ip', ['netns', 'exec', p.nsB, 'taskset', '-c', String(cpu), process.execPath, join(ROOT, 'dist/test/lib/traffic.js'), 'udp-flood', p.ipA, '7010', String(MS), '16', String(6100 + cpu)], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('close', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`sender on CPU ${cpu} exited ${code}`))));
        }),
      );
      const sent = (await Promise.all(senders)).reduce((a, b) => a + b, 0);
      const secs = (Date.now() - t0) / 1000;
      const s = summaryOf(await stopOk(x));
      assert.equal((s.events_sent as number) + (s.events_suppressed as number) + (s.events_lost as number), sent, 'every datagram was either logged or counted as suppressed');
      assert.ok((s.events_sent as number) >= LIMIT, 'the one-second burst passes');
      assert.ok((s.events_sent as number) <= LIMIT * (secs + 1) + 2, `at most ${LIMIT}/s after the burst: ${s.events_sent} logged in ${secs.toFixed(1)} s of ${sent} datagrams`);
    } finally {
      await x?.kill();
      p.destroy();
    }
  });

  test('SIGINT during a flood into a slow reader ends xtrace within a second, with a summary', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const child = spawn('ip', ['netns', 'exec', p.nsA, process.execPath, CLI, 'xdp', '-i', p.ifA, '-o', 'json', '-p', '--rate-limit', '0', '--interval', '60000', '--ready-file', join(tmpdir(), `xt-ready-${process.pid}`)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XTRACE_LOG_FORMAT: 'text' },
    });
    let flood: ReturnType<typeof spawn> | null = null;
    try {
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // A slow reader: 64 KiB every 50 ms (about 1.3 MB/s, some 5,000 records a second).
      let fast = false;
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (!fast) {
          child.stdout.pause();
          setTimeout(() => child.stdout.resume(), 50);
        }
      });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const closed = new Promise<void>((r) => child.on('close', () => r()));
      for (let i = 0; i < 200 && !/ready:/.test(err); i++) await sleep(50);
      assert.match(err, /ready:/, err);
      flood = spawn('ip', ['netns', 'exec', p.nsB, process.execPath, join(ROOT, 'dist/test/lib/traffic.js'), 'udp-flood', p.ipA, '7011', '8000', '16', '6111'], { stdio: 'ignore' });
      await sleep(1500); // the ring fills and the reader falls behind
      const t0 = performance.now();
      child.kill('SIGINT');
      fast = true;
      child.stdout.resume();
      const code = await exited;
      const took = performance.now() - t0;
      await closed;
      assert.equal(code, 0, err);
      assert.ok(took < 1000, `exited ${took.toFixed(0)} ms after SIGINT`);
      const summary = parseRecords(out.slice(out.lastIndexOf('\n{"type":"summary"') + 1)).find((r) => r.type === 'summary');
      assert.ok(summary, 'a summary at exit');
      assert.equal(typeof summary.events_unread_bytes, 'number');
    } finally {
      flood?.kill('SIGKILL');
      child.kill('SIGKILL');
      p.destroy();
      rmSync(join(tmpdir(), `xt-ready-${process.pid}`), { force: true });
    }
  });

  test('a stdout reader that stops: the ring is held and the kernel counts what does not fit; every line is counted sent', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const ready = join(tmpdir(), `xt-ready-held-${process.pid}`);
    const child = spawn('ip', ['netns', 'exec', p.nsA, process.execPath, CLI, 'xdp', '-i', p.ifA, '-o', 'json', '-p', '--rate-limit', '0', '--interval', '60000', '--ready-file', ready, 'udp', 'dst', 'port', '7012'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XTRACE_LOG_FORMAT: 'text' },
    });
    try {
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      for (let i = 0; i < 200 && !/ready:/.test(err); i++) await sleep(50);
      assert.match(err, /ready:/, err);
      // nobody reads stdout: the pipe fills, then xtrace's queue (4 MiB), then the ring
      const SENT = 100_000;
      assert.equal(traffic(p.nsB, 'udp-blast', p.ipA, 7012, SENT, 16, 6112), String(SENT));
      await sleep(500);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await sleep(500);
      child.kill('SIGINT');
      assert.equal(await exited, 0, err);
      const rs = parseRecords(out);
      const sum = summaryOf(rs) as Rec & { filter_passed: number; events_sent: number; events_lost: number };
      const lines = rs.filter((r) => r.type === 'packet').length;
      assert.equal(sum.filter_passed, SENT, 'the filter passed every datagram');
      assert.equal(lines, sum.events_sent, 'every event sent is a line');
      assert.equal(sum.events_sent + sum.events_lost, SENT, 'sent and lost add up to what passed');
      assert.ok(sum.events_lost > 0, `a held ring loses in the kernel, counted (${sum.events_lost} lost, ${lines} lines)`);
    } finally {
      child.kill('SIGKILL');
      p.destroy();
      rmSync(ready, { force: true });
    }
  });

  test('a reader that goes away (| head -1) ends xtrace quietly: exit 0, no stack trace, nothing attached', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    try {
      const err = join(tmpdir(), `xt-epipe-${process.pid}`);
      // exit status of xtrace, then whatever it wrote to stderr beyond info lines (nothing, if quiet)
      const pipeline = (args: string): string =>
        `${process.execPath} ${CLI} ${args} 2>${err} | head -1 >/dev/null; echo "exit=\${PIPESTATUS[0]}"; grep -v ' info: ' ${err}; rm -f ${err}`;
      for (const args of [`xdp -i ${p.ifA} -o json --interval 100`, `xdp -i ${p.ifA} -o json -p --interval 60000`]) {
        const pinger = spawn('ip', ['netns', 'exec', p.nsB, 'ping', '-i', '0.05', '-c', '200', '-q', p.ipA], { stdio: 'ignore' });
        try {
          const r = execFileSync('ip', ['netns', 'exec', p.nsA, 'bash', '-c', pipeline(args)], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, XTRACE_LOG_FORMAT: 'text' } });
          assert.equal(r.trim(), 'exit=0', `${args}: ${r}`);
        } finally {
          pinger.kill();
        }
        assert.deepEqual(attachedHooks(p.ifA, p.nsA), { xdp: 'none', tcx: 0, tc: 0 }, 'nothing left attached');
      }
      const rdma = execFileSync('bash', ['-c', pipeline(`rdma -o json --interval 100 --sysfs-root ${ROOT}test/fixtures/sysfs --proc-root ${ROOT}test/fixtures/proc`)], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, XTRACE_LOG_FORMAT: 'text' } });
      assert.equal(rdma.trim(), 'exit=0', rdma);
    } finally {
      p.destroy();
    }
  });

  test('a flow table that evicts: flows_evicted never goes down and no rate is negative', async (t) => {
    if (!requireKernel(t, () => (hasCommand('python3') ? null : 'needs python3 (raw frames)'))) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    try {
      x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--top', '0', '--interval', '100', '--ingress-hook', 'tc', '--max-flows', '1024'], { ns: p.nsA });
      await x.ready();
      const frame = Buffer.concat([ethHeader(p.macA, p.macB, 0x0800), ipv4Header(p.ipB, p.ipA, 17, UDP + 4), udpHeader(1, 5000, 4), Buffer.alloc(4)]);
      const SPORT = ETH + IP4; // the UDP source port's offset
      for (let round = 0; round < 6; round++) {
        rawFlows(p.nsB, p.ifB, frame, SPORT, 1000 + (round % 3) * 1000, 1500); // flows come back after eviction
        await sleep(150);
      }
      const end = await x.stop('SIGTERM');
      assert.equal(end.code, 0, end.stderr);
      const rs = end.records;
      // a warning, once: the run is shorter than the minute between repeats
      assert.equal(end.stderr.match(/flow table full: \d+ flows evicted \(\d+ in all\); raise --max-flows \(now 1024\)/g)?.length, 1, end.stderr);
      const stats = rs.filter((r) => r.type === 'stats' || r.type === 'summary');
      const ev = stats.map((r) => r.flows_evicted as number);
      assert.ok(ev.at(-1)! > 0, 'the table evicted');
      for (let i = 1; i < ev.length; i++) assert.ok(ev[i]! >= ev[i - 1]!, `flows_evicted went down: ${ev.join(',')}`);
      const negative = rs.filter((r) => r.type === 'flow' && ((r.pps_rate as number) < 0 || (r.bps_rate as number) < 0));
      assert.deepEqual(negative, [], 'rates of flows that came back after eviction');
      assert.equal(summaryOf(rs).rx_packets, 6 * 1500);
    } finally {
      await x?.kill();
      p.destroy();
    }
  });

  test('VLAN: TC counts the tag the kernel keeps in metadata (ingress and egress); XDP and TC agree', async (t) => {
    if (!requireKernel(t, () => (hasCommand('python3') && hasCommand('clang') && hasCommand('tc') ? null : 'needs python3, clang and tc'))) return;
    const dir = mkdtempSync(join(tmpdir(), 'xt-vlan-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const p = new NetnsPair();
    t.after(() => p.destroy());
    try {
      // Ingress: raw 802.1Q frames. XDP sees the tag in the frame; at TC the kernel has already moved
      // it into metadata (skb_vlan_untag), so TC must add it back to count the same bytes.
      const tagged = Buffer.concat([ethHeader(p.macA, p.macB, 0x8100), Buffer.from([0x00, 0x64, 0x08, 0x00]), ipv4Header(p.ipB, p.ipA, 17, UDP + 10), udpHeader(1001, 5001, 10), Buffer.alloc(10)]);
      for (const hook of ['xdp', 'tc']) {
        const y = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--top', '0', '--interval', '60000', '--ingress-hook', hook], { ns: p.nsA });
        t.after(() => y.kill());
        try {
          await y.ready();
          rawFrames(p.nsB, p.ifB, tagged, 4);
          const f = finalFlows(await stopOk(y)).get(`${p.ifA} ingress udp ${p.ipB}:1001>${p.ipA}:5001`);
          assert.deepEqual([f?.packets, f?.bytes, f?.vlan], [4, 4 * tagged.length, 100], `${hook}: raw 802.1Q frames, VLAN 100`);
        } finally {
          await y.kill();
        }
      }
      // Egress: a filter ahead of xtrace's tags every packet; veth offloads tagging, so the tag is metadata.
      const push = join(dir, 'vlan_push.bpf.o');
      execFileSync('clang', clangArgs(join(ROOT, 'test/fixtures/bpf/vlan_push.bpf.c'), push));
      const x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--top', '0', '--interval', '60000', '--ingress-hook', 'tc'], { ns: p.nsA, env: { XTRACE_DISABLE_HOOKS: 'tcx' } });
      t.after(() => x.kill());
      try {
        await x.ready();
        p.exec(p.nsA, 'tc', 'filter', 'add', 'dev', p.ifA, 'egress', 'prio', '1', 'bpf', 'da', 'obj', push, 'sec', 'tc');
        const N = 20;
        const SIZE = 64;
        assert.equal(traffic(p.nsA, 'udp-blast', p.ipB, 9300, N, SIZE, 40300), String(N));
        const f = finalFlows(await stopOk(x)).get(`${p.ifA} egress udp ${p.ipA}:40300>${p.ipB}:9300`);
        assert.deepEqual([f?.packets, f?.bytes, f?.vlan], [N, N * (ETH + 4 + IP4 + UDP + SIZE), 100], 'egress: tag in metadata counted, VLAN 100');
      } finally {
        await x.kill();
      }
    } finally {
      p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('malformed headers count as truncated: TCP doff < 5, IPv6 beyond the parsed extension headers', async (t) => {
    if (!requireKernel(t, () => (hasCommand('python3') ? null : 'needs python3 (raw frames)'))) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    try {
      x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--top', '0', '--interval', '60000', '--ingress-hook', 'xdp'], { ns: p.nsA });
      await x.ready();
      const tcp = Buffer.alloc(20);
      tcp.writeUInt16BE(1234, 0);
      tcp.writeUInt16BE(80, 2);
      tcp[12] = 4 << 4; // data offset 4 words: shorter than a TCP header
      rawFrames(p.nsB, p.ifB, Buffer.concat([ethHeader(p.macA, p.macB, 0x0800), ipv4Header(p.ipB, p.ipA, 6, 20), tcp]), 3);
      // IPv6 with seven destination-options headers: one more than the parser follows
      const v6 = Buffer.alloc(40);
      v6[0] = 0x60;
      v6.writeUInt16BE(7 * 8 + UDP, 4);
      v6[6] = 60;
      v6[7] = 64;
      Buffer.from('fd000078000000000000000000000002', 'hex').copy(v6, 8);
      Buffer.from('fd000078000000000000000000000001', 'hex').copy(v6, 24);
      const ext = (next: number): Buffer => Buffer.from([next, 0, 1, 4, 0, 0, 0, 0]);
      const exts = [60, 60, 60, 60, 60, 60, 17].map(ext);
      rawFrames(p.nsB, p.ifB, Buffer.concat([ethHeader(p.macA, p.macB, 0x86dd), v6, ...exts, udpHeader(1, 2, 0)]), 2);
      const rs = await stopOk(x);
      const s = summaryOf(rs);
      assert.equal(s.truncated, 5);
      assert.equal(s.rx_packets, 5);
      const flows = rs.filter((r) => r.type === 'flow' && r.dir === 'ingress');
      assert.deepEqual(flows.map((f) => `${f.proto} ${f.sport}>${f.dport} ${f.packets}`), ['tcp 0>0 3'], 'the TCP frames without ports; no flow claims an extension header as its protocol');
    } finally {
      await x?.kill();
      p.destroy();
    }
  });

  test('GSO frames from a tap with gso_segs 0 (virtio, SKB_GSO_DODGY) count as their wire segments', async (t) => {
    if (!requireKernel(t, () => (!hasCommand('python3') ? 'needs python3 (tap device)' : existsSync('/dev/net/tun') ? null : 'needs /dev/net/tun (tun module)'))) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const COUNT = 5;
    const PAYLOAD = 4000;
    const GSO = 1000;
    const tap = spawn('ip', ['netns', 'exec', p.nsA, 'python3', join(ROOT, 'test/fixtures/tap_gso.py'), 'xtap0', String(COUNT), String(PAYLOAD), String(GSO)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let x: XtraceProcess | null = null;
    try {
      let said = '';
      tap.stdout.on('data', (d: Buffer) => (said += d.toString()));
      for (let i = 0; i < 100 && !said.includes('ready'); i++) await sleep(50);
      assert.ok(said.includes('ready'), 'the tap exists');
      p.exec(p.nsA, 'ip', 'link', 'set', 'xtap0', 'up');
      x = new XtraceProcess(['xdp', '-i', 'xtap0', '-o', 'json', '--top', '0', '--interval', '60000', '--ingress-hook', 'tc', '-p', '--protocol', 'tcp'], { ns: p.nsA });
      await x.ready();
      tap.stdin.write('go\n');
      for (let i = 0; i < 100 && !said.includes('sent'); i++) await sleep(50);
      assert.ok(said.includes('sent'), 'frames written');
      await sleep(200);
      const rs = await stopOk(x);
      const f = finalFlows(rs).get('xtap0 ingress tcp 10.9.0.2:40000>10.9.0.1:9000');
      const segs = Math.ceil(PAYLOAD / GSO);
      const hdr = ETH + IP4 + 20;
      assert.deepEqual([f?.packets, f?.bytes], [COUNT * segs, COUNT * (hdr + PAYLOAD + (segs - 1) * hdr)], 'segments derived from gso_size');
      // the packet log has one event per GSO packet, carrying its wire segments
      const events = rs.filter((r) => r.type === 'packet').map((r) => [r.len, r.segs]);
      assert.deepEqual(events, Array(COUNT).fill([hdr + PAYLOAD, segs]));
    } finally {
      await x?.kill();
      tap.kill();
      p.destroy();
    }
  });

  test('the summary ranks flows by total bytes with rates over the whole run; --changed shows only moving flows', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    try {
      const hostBits = `${p.ipA.replace(/\.1$/, '.5')}/24`; // stands for the /24 network
      x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--top', '2', '--changed', '--interval', '200', '--ingress-hook', 'tc', '--xdp-mode', 'generic', '--watch-ip', hostBits], { ns: p.nsA });
      await x.ready();
      // what xtrace adjusted or ignored is said, not done silently
      assert.match(x.stderr, new RegExp(`--watch-ip: ${hostBits.replace(/\./g, '\\.')} has host bits set; it stands for the network ${p.ipA.replace(/\.1$/, '.0').replace(/\./g, '\\.')}/24`));
      assert.match(x.stderr, new RegExp(`${p.ifA}: --xdp-mode generic has no effect: ingress is counted at TC, not XDP`));
      const N = 2000;
      await echoing(p.nsA, p.ipA, [9400], () => assert.equal(traffic(p.nsB, 'udp-send', p.ipA, 9400, N, 100, 40400), String(N)));
      await sleep(700); // reports where the UDP flows are idle
      p.exec(p.nsB, 'ping', '-c', '1', '-q', p.ipA);
      await sleep(500);
      const rs = await stopOk(x);
      // --changed: the report after the ping shows the ping alone, idle reports show no flow
      const reports: Rec[][] = [];
      for (const r of rs) {
        if (r.type === 'stats' || r.type === 'summary') reports.push([]);
        else if (r.type === 'flow' && reports.length) reports.at(-1)!.push(r);
      }
      const shown = reports.slice(0, -1).map((fs) => fs.map((f) => `${f.proto}`).sort().join(','));
      assert.ok(shown.includes('icmp,icmp'), `a report with the echo and its reply only: ${JSON.stringify(shown)}`);
      assert.ok(shown.includes(''), `an idle report shows no flow: ${JSON.stringify(shown)}`);
      // the summary: the two UDP flows (2000 packets each) rank above the ping, whatever the last interval saw
      const sum = summaryOf(rs);
      const lastStats = rs.map((r) => r.type).lastIndexOf('stats');
      const last = rs.slice(lastStats + 1).filter((r) => r.type === 'flow'); // the summary's flows
      assert.deepEqual(last.map((f) => f.packets), [N, N]);
      assert.deepEqual(last.map((f) => f.proto), ['udp', 'udp']);
      for (const f of last) {
        const want = N / (sum.duration_s as number);
        assert.ok(Math.abs((f.pps_rate as number) - want) <= want * 0.01, `pps over the run: ${f.pps_rate} vs ${want}`);
      }
    } finally {
      await x?.kill();
      p.destroy();
    }
  });

  test('an interface deleted mid-run is reported once; counting goes on on the others; none left: exit 1 with a summary', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    try {
      const l2 = p.addLink();
      x = new XtraceProcess(['xdp', '-i', `${p.ifA},${l2.ifA}`, '-o', 'json', '--top', '0', '--interval', '100'], { ns: p.nsA });
      await x.ready();
      p.exec(p.nsA, 'ip', 'link', 'del', l2.ifA);
      for (let i = 0; i < 50 && !/is gone/.test(x.stderr); i++) await sleep(50);
      p.exec(p.nsB, 'ping', '-c', '3', '-i', '0.05', '-q', p.ipA);
      await sleep(300);
      const end = await x.stop('SIGTERM');
      assert.equal(end.code, 0, end.stderr);
      assert.equal(end.stderr.match(new RegExp(`${l2.ifA} \\(ifindex \\d+\\) is gone: its hooks went with it; counting goes on on ${p.ifA}`, 'g'))?.length, 1, end.stderr);
      const sum = summaryOf(end.records);
      assert.deepEqual(sum.vanished, [l2.ifA]);
      assert.deepEqual((sum.attached as string[]).filter((a) => a.startsWith(`${l2.ifA}:`)), []);
      assert.equal(finalFlows(end.records).get(`${p.ifA} ingress icmp/8 ${p.ipB}:0>${p.ipA}:0`)?.packets, 3);

      // the last interface goes: nothing is left to count
      const y = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '100'], { ns: p.nsA });
      t.after(() => y.kill());
      x = y;
      await y.ready();
      p.exec(p.nsA, 'ip', 'link', 'del', p.ifA);
      const done = await Promise.race([y.wait(), sleep(5000).then(() => null)]);
      assert.ok(done, 'xtrace ends by itself');
      assert.equal(done.code, 1, done.stderr);
      assert.match(done.stderr, /no interface is left/);
      assert.deepEqual(summaryOf(done.records).vanished, [p.ifA]);
    } finally {
      await x?.kill();
      p.destroy();
    }
  });

  test('classic TC fallback (no tcx): detaching removes only xtrace’s filters, never another tool’s', async (t) => {
    if (!requireKernel(t, () => (hasCommand('clang') && hasCommand('tc') ? null : 'needs clang and tc'))) return;
    const dir = mkdtempSync(join(tmpdir(), 'xt-tc-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    try {
      const other = join(dir, 'pass.bpf.o');
      execFileSync('clang', clangArgs(join(ROOT, 'bench/bpf/pass.bpf.c'), other));
      const filters = (d: string): Array<{ pref?: number; options?: { bpf_name?: string } }> =>
        (JSON.parse(p.exec(p.nsA, 'tc', '-j', 'filter', 'show', 'dev', p.ifA, d) || '[]') as Array<{ pref?: number; options?: { bpf_name?: string } }>).filter((f) => f.options);
      const qdiscs = (): string => p.exec(p.nsA, 'tc', 'qdisc', 'show', 'dev', p.ifA);
      for (const withOther of [true, false]) {
        x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '60000', '--ingress-hook', 'tc'], { ns: p.nsA, env: { XTRACE_DISABLE_HOOKS: 'tcx' } });
        const ready = await x.ready();
        assert.deepEqual(ready.links.map((l) => l.kind), ['tc/ingress', 'tc/egress']);
        if (withOther) p.exec(p.nsA, 'tc', 'filter', 'add', 'dev', p.ifA, 'ingress', 'prio', '7', 'bpf', 'da', 'obj', other, 'sec', 'tc');
        p.exec(p.nsB, 'ping', '-c', '2', '-i', '0.05', '-q', p.ipA);
        const rs = await stopOk(x);
        assert.equal(summaryOf(rs).rx_packets, 2);
        x = null;
        assert.deepEqual(filters('egress'), [], 'xtrace’s egress filter is gone');
        if (withOther) {
          assert.deepEqual(filters('ingress').map((f) => [f.pref, f.options?.bpf_name]), [[7, 'pass.bpf.o:[tc]']], 'the other tool’s filter stays, alone');
          assert.match(qdiscs(), /clsact/, 'its qdisc stays');
          p.exec(p.nsA, 'tc', 'qdisc', 'del', 'dev', p.ifA, 'clsact');
        } else assert.doesNotMatch(qdiscs(), /clsact/, 'the clsact qdisc xtrace created is gone with its last filter');
      }
    } finally {
      await x?.kill();
      p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
