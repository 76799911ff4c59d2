/**
 * Capture with tcpdump filter expressions, against tcpdump and tshark as oracles: the kernel's filter
 * passes exactly the packets `tcpdump -r full.pcapng EXPR` selects from xtrace's full capture of the
 * same traffic; tshark reads every file.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { XtraceProcess, sleep } from '../lib/cli.js';
import { CLI, SLOWDOWN, requireCommands, requireKernel } from '../lib/env.js';
import { attachedHooks } from '../lib/hooks.js';
import { NetnsPair } from '../lib/netns.js';
import { type Packet, readCapture } from '../lib/pcap.js';
import { bth, echoing, ethHeader, ipv4Header, rawFrames, server, traffic, udpHeader } from '../lib/peer.js';


/** The max_entries of each BPF ring buffer a process holds, from its fds' fdinfo (map_type 27), ascending. */
function ringSizes(pid: number): number[] {
  const sizes: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info = '';
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    if (/^map_type:\s+27$/m.test(info)) sizes.push(Number(/^max_entries:\s+(\d+)$/m.exec(info)![1]));
  }
  return sizes.sort((a, b) => a - b);
}

const ETH = 14;
const IP4 = 20;
const UDP = 8;

const needs = (t: TestContext, ...cmds: string[]): boolean => requireCommands(t, 'tcpdump tshark', ...cmds);

/** tshark's stderr without its note about running as root (the tests do): any other line is a warning about the file. */
const warnings = (stderr: string): string =>
  stderr
    .split('\n')
    .filter((l) => l.trim() && !/^Running as user "root" and group "root"\. This could be dangerous\.$/.test(l.trim()))
    .join('\n');

/** tshark reads the file: no warning or error, and this many packets. */
function tsharkCount(file: string): { count: number; stderr: string; status: number | null } {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len'], { encoding: 'utf8', env: { ...process.env, HOME: tmpdir() } });
  return { count: r.stdout.split('\n').filter(Boolean).length, stderr: warnings(r.stderr), status: r.status };
}

/**
 * The link's own chatter (IPv6 router solicitations, neighbour discovery, MLD reports) may fall in the
 * second one capture attaches before another: left out of both sides of each comparison.
 */
function chatter(p: Packet): boolean {
  let off = 12;
  let type = p.data.readUInt16BE(off);
  if (type === 0x8100) type = p.data.readUInt16BE((off += 4));
  if (type !== 0x86dd) return false;
  const next = p.data[off + 2 + 6];
  const icmpType = p.data[off + 2 + 40];
  return next === 0 || (next === 58 && icmpType !== undefined && icmpType >= 130 && icmpType <= 143);
}

const key = (p: Packet): string => `${p.dir ?? '?'} ${p.origLen} ${p.data.toString('hex')}`;
const multiset = (ps: Packet[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const p of ps) if (!chatter(p)) m.set(key(p), (m.get(key(p)) ?? 0) + 1);
  return m;
};

describe('capture: tcpdump expressions in the kernel, pcapng files (real kernel, tcpdump and tshark as oracles)', { concurrency: false }, () => {
  test('for 30 expressions the kernel filter passes, one for one, what tcpdump selects from the full capture; tshark reads every file', async (t) => {
    if (!requireKernel(t) || !needs(t, 'tcpdump', 'tshark')) return;
    const p = new NetnsPair({ ipv6: true });
    t.after(() => p.destroy());
    const dir = mkdtempSync(join(tmpdir(), 'xt-cap-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const procs: XtraceProcess[] = [];
    try {
      const o = p.ipA.split('.')[1];
      const exprs = [
        `host ${p.ipB}`, `src host ${p.ipA}`, `dst host ${p.ipA}`, `net 10.${o}.0.0/24`, 'port 9000', 'udp port 9000', 'tcp port 5201',
        'portrange 9000-9010', 'udp dst port 4791', 'icmp', 'tcp', 'udp', 'ip6', 'ip', 'not ip', 'tcp[tcpflags] & tcp-syn != 0',
        'tcp[tcpflags] & (tcp-fin|tcp-rst) != 0', 'ip[8] < 64', 'ip[8] >= 64', 'vlan', 'vlan 100 and udp', 'greater 500', 'less 100',
        'ip6 and udp', 'udp and not port 4791', 'icmp or (tcp and dst port 5201)', 'ip[6:2] & 0x3fff != 0', `ether dst ${p.macA}`,
        `ip6 dst host ${p.ip6A}`, 'udp[8:4] = 0x61616161',
      ];
      const full = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '60000', '-w', join(dir, 'full.pcapng')], { ns: p.nsA });
      t.after(() => full.kill());
      procs.push(full);
      await full.ready(60_000);
      const filtered = exprs.map((e, i) => new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '60000', '-w', join(dir, `f${i}.pcapng`), '--filter', e], { ns: p.nsA }));
      procs.push(...filtered);
      // --protocol/--src-ip/--dst-ip/--src-port/--dst-port are shorthand for an expression that also looks
      // behind VLAN tags; the oracle is each one's documented meaning, written out here by hand
      const udpNotRoce = 'udp and not udp dst port 4791';
      const flagRuns: Array<{ args: string[]; oracle: string }> = [
        { args: ['--protocol', 'udp', '--dst-port', '9000'], oracle: `(${udpNotRoce} and dst port 9000) or (vlan and ${udpNotRoce} and dst port 9000)` },
        { args: ['--protocol', 'icmp', '--src-ip', p.ipB], oracle: `(icmp and ip src host ${p.ipB}) or (vlan and icmp and ip src host ${p.ipB})` },
        { args: ['--protocol', 'roce'], oracle: 'udp dst port 4791 or ether proto 0x8915 or (vlan and (udp dst port 4791 or ether proto 0x8915))' },
        { args: ['--dst-ip', p.ip6A], oracle: `ip6 dst host ${p.ip6A} or (vlan and ip6 dst host ${p.ip6A})` },
        { args: ['--dst-ip', `10.${o}.0.0/24`, '--src-port', '40002'], oracle: `(ip dst net 10.${o}.0.0/24 and src port 40002) or (vlan and ip dst net 10.${o}.0.0/24 and src port 40002)` },
        { args: ['--protocol', 'tcp', '--dst-port', '5201', 'greater', '100'], oracle: 'greater 100 and tcp and dst port 5201' },
      ];
      const flagged = flagRuns.map((f, i) => new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '60000', '-w', join(dir, `g${i}.pcapng`), ...f.args], { ns: p.nsA }));
      procs.push(...flagged);
      filtered.push(...flagged);
      for (const x of filtered) await x.ready(120_000);
      await sleep(300);

      // the traffic: UDP v4 with echoes (payload 'a's), UDP v6, TCP, ICMP and fragmented ICMP, VLAN-tagged UDP
      // (802.1Q frames: TC sees the tag as metadata and must put it back in the bytes), RoCE v2
      await echoing(p.nsA, '::', [9000, 9005], () => {
        assert.equal(traffic(p.nsB, 'udp-send', p.ipA, 9000, 20, 100, 40000), '20');
        assert.equal(traffic(p.nsB, 'udp-send', p.ip6A, 9005, 10, 600, 40001), '10');
      });
      const tagged100 = Buffer.concat([ethHeader(p.macA, p.macB, 0x8100, 100, 0x0800), ipv4Header(p.ipB, p.ipA, 17, UDP + 50), udpHeader(40002, 9000, 50), Buffer.alloc(50, 0x61)]);
      rawFrames(p.nsB, p.ifB, tagged100, 10);
      const sink = await server(p.nsA, 'tcp-sink', p.ipA, 5201);
      traffic(p.nsB, 'tcp-writes', p.ipA, 5201, 10, 1000, 5);
      await sink.output();
      p.exec(p.nsB, 'ping', '-c', '3', '-i', '0.05', '-q', p.ipA);
      p.exec(p.nsB, 'ping', '-c', '2', '-i', '0.05', '-s', '3000', '-q', p.ipA);
      const roce = Buffer.concat([ethHeader(p.macA, p.macB, 0x0800), ipv4Header(p.ipB, p.ipA, 17, UDP + 12 + 32), udpHeader(50000, 4791, 12 + 32), bth(0x0a, 0x12), Buffer.alloc(32, 7)]);
      rawFrames(p.nsB, p.ifB, roce, 5);
      await sleep(1000);
      for (const x of [...filtered, full]) {
        const r = await x.stop('SIGINT');
        assert.equal(r.code, 0, r.stderr);
      }

      const all = readCapture(join(dir, 'full.pcapng'));
      assert.equal(all.interfaces.length, 1);
      assert.deepEqual([all.interfaces[0]!.name, all.interfaces[0]!.linktype, all.interfaces[0]!.tsresol], [p.ifA, 1, 9]);
      assert.ok(all.packets.length > 100, `${all.packets.length} packets captured`);
      assert.ok(all.packets.every((x) => x.dir === 'in' || x.dir === 'out'), 'every packet has a direction');
      const tagged = all.packets.filter((x) => x.data.readUInt16BE(12) === 0x8100);
      assert.equal(tagged.length, 10, 'VLAN-tagged frames keep their tag in the bytes');
      assert.ok(tagged.every((x) => x.data.equals(tagged100)), 'byte for byte as sent');
      const ts = tsharkCount(join(dir, 'full.pcapng'));
      assert.deepEqual([ts.status, ts.stderr, ts.count], [0, '', all.packets.length]);
      const checked: string[] = [];
      exprs.forEach((e, i) => {
        const sel = join(dir, `sel${i}.pcap`);
        execFileSync('tcpdump', ['-r', join(dir, 'full.pcapng'), '-w', sel, e], { stdio: 'ignore' });
        const want = multiset(readCapture(sel).packets.map((x) => ({ ...x, dir: undefined })));
        const mine = readCapture(join(dir, `f${i}.pcapng`));
        const got = multiset(mine.packets.map((x) => ({ ...x, dir: undefined })));
        assert.deepEqual(got, want, `'${e}': xtrace's kernel filter and tcpdump -r full.pcapng disagree`);
        const tc = tsharkCount(join(dir, `f${i}.pcapng`));
        assert.deepEqual([tc.status, tc.stderr, tc.count], [0, '', mine.packets.length], `tshark reads the capture of '${e}'`);
        assert.equal(mine.stats.length, 1, 'a statistics block');
        assert.equal(mine.stats[0]!.osDrop, 0n);
        assert.equal(mine.stats[0]!.filterAccept, BigInt(mine.packets.length), `'${e}': the statistics block counts what the filter passed`);
        checked.push(`${e}: ${mine.packets.length}`);
      });
      flagRuns.forEach((f, i) => {
        const sel = join(dir, `gsel${i}.pcap`);
        execFileSync('tcpdump', ['-r', join(dir, 'full.pcapng'), '-w', sel, f.oracle], { stdio: 'ignore' });
        const want = readCapture(sel).packets;
        const mine = readCapture(join(dir, `g${i}.pcapng`)).packets;
        assert.deepEqual(multiset(mine.map((x) => ({ ...x, dir: undefined }))), multiset(want.map((x) => ({ ...x, dir: undefined }))), `${f.args.join(' ')}: not what '${f.oracle}' selects`);
        assert.ok(mine.length > 0 && mine.length < all.packets.length, `${f.args.join(' ')}: ${mine.length} packets`);
      });
      // the VLAN-tagged datagrams to 9000 pass --protocol udp --dst-port 9000, as xtrace's parser sees them
      assert.equal(readCapture(join(dir, 'g0.pcapng')).packets.filter((x) => x.data.readUInt16BE(12) === 0x8100).length, 10);
      assert.equal(readCapture(join(dir, 'g4.pcapng')).packets.length, 10, 'only the tagged datagrams come from port 40002');
      // the expressions select something, and not everything: the comparison means something
      const sizes = checked.map((c) => Number(c.split(': ').at(-1)));
      assert.ok(sizes.filter((n) => n > 0).length >= 25 && sizes.filter((n) => n < all.packets.length).length >= 25, checked.join('; '));
    } finally {
      for (const x of procs) await x.kill();
      rmSync(dir, { recursive: true, force: true });
      p.destroy();
    }
  });

  test('XDP and TC: exact count, lengths, bytes and direction of what was sent; -w - into tshark -r -; a killed writer leaves a readable file', async (t) => {
    if (!requireKernel(t) || !needs(t, 'tshark')) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = mkdtempSync(join(tmpdir(), 'xt-cap-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const procs: XtraceProcess[] = [];
    const track = (x: XtraceProcess): XtraceProcess => (procs.push(x), x);
    try {
      const N = 50;
      const SIZE = 300;
      const frame = ETH + IP4 + UDP + SIZE;
      for (const hook of ['xdp', 'tc']) {
        const file = join(dir, `${hook}.pcapng`);
        const x = track(new XtraceProcess(['xdp', '-i', p.ifA, '--ingress-hook', hook, '--xdp-mode', 'generic', '-o', 'json', '--interval', '200', '-w', file, 'udp', 'port', '9000'], { ns: p.nsA }));
        await x.ready();
        await echoing(p.nsA, p.ipA, [9000], () => assert.equal(traffic(p.nsB, 'udp-send', p.ipA, 9000, N, SIZE, 40000), String(N)));
        const r = await x.stop('SIGINT');
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`info: -w: ${2 * N} packets written to ${file.replace(/[.]/g, '\\.')}`));
        const cap = readCapture(file);
        assert.equal(cap.packets.length, 2 * N, hook);
        assert.ok(cap.packets.every((q) => q.origLen === frame && q.data.length === frame), `${hook}: whole frames`);
        assert.deepEqual([cap.packets.filter((q) => q.dir === 'in').length, cap.packets.filter((q) => q.dir === 'out').length], [N, N], `${hook}: directions`);
        assert.ok(cap.packets.every((q) => q.data.subarray(frame - SIZE).equals(Buffer.alloc(SIZE, 0x61))), `${hook}: the payload's bytes`);
        const now = BigInt(Date.now()) * 1_000_000n;
        assert.ok(cap.packets.every((q) => q.tsNs < now && now - q.tsNs < 120_000_000_000n), `${hook}: timestamps are the time of day`);
        for (let i = 1; i < cap.packets.length; i++) assert.ok(cap.packets[i]!.tsNs >= cap.packets[i - 1]!.tsNs || hook === 'tc', 'in order');
        const ts = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'udp.dstport', '-e', 'udp.srcport'], { encoding: 'utf8', env: { ...process.env, HOME: tmpdir() } });
        assert.deepEqual([ts.status, warnings(ts.stderr)], [0, ''], `tshark on the ${hook} capture`);
        const rows = ts.stdout.trim().split('\n');
        assert.equal(rows.length, 2 * N);
        assert.ok(rows.every((row) => row.startsWith(`${frame}\t${frame}\t`)), rows[0]);
        // --snaplen cuts what is kept, not the original length
        if (hook === 'tc') {
          const small = join(dir, 'snap.pcapng');
          const y = track(new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--snaplen', '64', '-B', '100', '-w', small, '--filter', 'udp'], { ns: p.nsA }));
          await y.ready();
          // -B: the capture ring the kernel made (its fdinfo), beside the packet log's fixed 1 MiB one
          assert.deepEqual(ringSizes(y.child.pid!), [131072, 1 << 20]);
          await echoing(p.nsA, p.ipA, [9000], () => traffic(p.nsB, 'udp-send', p.ipA, 9000, 5, SIZE, 40000));
          const yr = await y.stop('SIGINT');
          assert.equal(yr.code, 0);
          assert.match(yr.stderr, /info: -B\/--buffer-size: 100 KiB rounded up to 128 KiB \(a BPF ring buffer is a power of two\)/);
          const s = readCapture(small);
          assert.deepEqual(s.interfaces.map((i) => i.snaplen), [64]);
          assert.ok(s.packets.length === 10 && s.packets.every((q) => q.data.length === 64 && q.origLen === frame));
        }
      }

      // -w - | tshark -r -: the records stay off stdout
      const pipe = spawn('sh', ['-c', `ip netns exec ${p.nsA} ${process.execPath} ${CLI} xdp -i ${p.ifA} -w - udp port 9000 | HOME=${tmpdir()} tshark -r - -T fields -e udp.dstport`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      pipe.stdout.on('data', (d: Buffer) => (out += d.toString()));
      pipe.stderr.on('data', (d: Buffer) => (err += d.toString()));
      for (let i = 0; i < 200 * SLOWDOWN && !/ready: attached/.test(err); i++) await sleep(100);
      assert.match(err, /ready: attached/, 'xtrace -w - attached before the traffic');
      await echoing(p.nsA, p.ipA, [9000], () => traffic(p.nsB, 'udp-send', p.ipA, 9000, 7, 100, 40000));
      await sleep(500);
      execFileSync('pkill', ['-INT', '-f', `^${process.execPath} ${CLI} xdp -i ${p.ifA} -w -`]); // xtrace, not the shell around it
      const code = await new Promise((r) => pipe.on('close', r));
      assert.equal(code, 0, err);
      assert.deepEqual(out.trim().split('\n').sort(), [...Array(7).fill('40000'), ...Array(7).fill('9000')].sort(), `the 7 datagrams and their echoes through the pipe: ${err}`);

      // SIGKILL mid-run: the file holds whole blocks, tshark reads them
      const killed = join(dir, 'killed.pcapng');
      const k = track(new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '100', '-w', killed], { ns: p.nsA }));
      await k.ready();
      await echoing(p.nsA, p.ipA, [9000], () => traffic(p.nsB, 'udp-send', p.ipA, 9000, 20, 100, 40000));
      await sleep(400);
      k.child.kill('SIGKILL');
      await k.wait();
      const kc = readCapture(killed);
      assert.ok(statSync(killed).size > 0 && kc.packets.length === 40, `${kc.packets.length} packets in the killed writer's file`);
      const kt = tsharkCount(killed);
      assert.deepEqual([kt.status, kt.stderr, kt.count], [0, '', 40]);
    } finally {
      for (const x of procs) await x.kill();
      spawnSync('pkill', ['-KILL', '-f', `^${process.execPath} ${CLI} xdp -i ${p.ifA} -w -`]);
      rmSync(dir, { recursive: true, force: true });
      p.destroy();
    }
  });

  test("timestamps: pcapng times are tcpdump's for the same packets within 20 us (the median packet), ingress and egress", async (t) => {
    if (!requireKernel(t) || !needs(t, 'tcpdump')) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = mkdtempSync(join(tmpdir(), 'xt-ts-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const td = spawn('ip', ['netns', 'exec', p.nsA, 'tcpdump', '-Z', 'root', '-i', p.ifA, '-nn', '-U', '--immediate-mode', '--time-stamp-precision=nano', '-w', join(dir, 'td.pcap'), 'udp port 9000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    t.after(() => void td.kill('SIGKILL'));
    let tdErr = '';
    td.stderr.on('data', (d: Buffer) => (tdErr += d.toString()));
    const x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '-w', join(dir, 'x.pcapng'), 'udp', 'port', '9000'], { ns: p.nsA });
    t.after(() => x.kill());
    for (let i = 0; i < 100 * SLOWDOWN && !tdErr.includes('listening on'); i++) await sleep(100);
    assert.match(tdErr, /listening on/);
    await x.ready();
    const N = 40;
    await echoing(p.nsA, p.ipA, [9000], () => assert.equal(traffic(p.nsB, 'udp-send', p.ipA, 9000, N, 100, 40000), String(N)));
    await sleep(300);
    assert.equal((await x.stop('SIGINT')).code, 0);
    td.kill('SIGINT');
    await new Promise((r) => td.on('close', r));
    // each direction in order: tcpdump's file has no direction, the source address tells it
    const dirOf = (q: Packet): 'in' | 'out' => (q.data.subarray(ETH + 12, ETH + 16).join('.') === p.ipB ? 'in' : 'out');
    const ours = readCapture(join(dir, 'x.pcapng')).packets;
    const theirs = readCapture(join(dir, 'td.pcap')).packets;
    for (const d of ['in', 'out'] as const) {
      const a = ours.filter((q) => q.dir === d);
      const b = theirs.filter((q) => dirOf(q) === d);
      assert.equal(a.length, N, `${d}: xtrace's packets`);
      assert.equal(b.length, N, `${d}: tcpdump's packets (${theirs.length} in all; tcpdump said: ${tdErr.trim()})`);
      // The two see a packet at different points of the path (tcpdump's ingress time is taken when the
      // veth queues it, xtrace's when TC runs: a few us later; a cold first packet, or a busy CPU, more):
      // the clocks themselves must agree, so the typical packet's difference is within 20 us.
      const diffs = a.map((q, i) => Number(q.tsNs - b[i]!.tsNs) / 1000);
      const median = [...diffs].sort((u, v) => u - v)[diffs.length >> 1]!;
      assert.ok(Math.abs(median) <= 20, `${d}: xtrace - tcpdump, median ${median.toFixed(1)} us: ${diffs.map((us) => us.toFixed(1)).join(' ')}`);
    }
  });

  test('-p with a filter expression: the packet log shows exactly what the expression selects', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    let y: XtraceProcess | null = null;
    try {
      x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '200', '-p', '--rate-limit', '0', 'udp', 'and', 'dst', 'port', '9000'], { ns: p.nsA });
      // without -w the kernel copies only as far as the filter can read: here the payload's first 4
      // bytes behind an IP header of up to 60 (86 bytes of these 106-byte frames)
      y = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '200', '-p', '--rate-limit', '0', '--filter', 'udp[8:4] = 0x61616161 and dst port 9000'], { ns: p.nsA });
      await x.ready();
      await y.ready();
      await echoing(p.nsA, p.ipA, [9000, 9001], () => {
        traffic(p.nsB, 'udp-send', p.ipA, 9000, 12, 64, 40000);
        traffic(p.nsB, 'udp-send', p.ipA, 9001, 5, 64, 40001);
      });
      p.exec(p.nsB, 'ping', '-c', '3', '-i', '0.05', '-q', p.ipA);
      await x.waitFor((r) => r.type === 'stats' && r.filter_passed === 12);
      const r = await x.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
      const logged = r.records.filter((q) => q.type === 'packet');
      assert.equal(logged.length, 12, 'the 12 datagrams to port 9000, not their echoes, the other port or the pings');
      assert.ok(logged.every((q) => q.proto === 'udp' && q.dport === 9000 && q.dir === 'ingress'));
      const sum = r.records.find((q) => q.type === 'summary')!;
      assert.deepEqual([sum.filter_passed, sum.events_sent], [12, 12]);
      const ry = await y.stop('SIGINT');
      assert.equal(ry.code, 0, ry.stderr);
      assert.equal(ry.records.filter((q) => q.type === 'packet' && q.dport === 9000 && q.len === 106).length, 12, 'a filter reading the payload');
      assert.equal(ry.records.find((q) => q.type === 'summary')!.filter_passed, 12);
    } finally {
      await y?.kill();
      await x?.kill();
      p.destroy();
    }
  });

  test('-p logs frames that are not IP as the filter passes them (ARP, PPPoE, MPLS, LLDP, 802.3 LLC, a malformed IPv4 header): EtherType, MACs, length; -w writes the same frames', async (t) => {
    if (!requireKernel(t) || !needs(t, 'tcpdump')) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = mkdtempSync(join(tmpdir(), 'xt-cap-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let x: XtraceProcess | null = null;
    try {
      const file = join(dir, 'l2.pcapng');
      const eth = (type: number): Buffer => ethHeader(p.macA, p.macB, type);
      const arp = Buffer.concat([eth(0x0806), Buffer.from('0001080006040001', 'hex'), Buffer.from(p.macB.replace(/:/g, ''), 'hex'), Buffer.from([10, 0, 0, 2]), Buffer.alloc(6), Buffer.from([10, 0, 0, 1])]);
      const pppoe = Buffer.concat([eth(0x8864), Buffer.from('1100000100160021', 'hex'), ipv4Header('10.9.9.1', '10.9.9.2', 17, 8), udpHeader(1, 2, 0)]);
      const mpls = Buffer.concat([eth(0x8847), Buffer.from('00011140', 'hex'), ipv4Header('10.9.9.1', '10.9.9.2', 17, 8), udpHeader(1, 2, 0)]);
      const lldp = Buffer.concat([ethHeader('01:80:c2:00:00:0e', p.macB, 0x88cc), Buffer.from('020704', 'hex'), Buffer.from(p.macB.replace(/:/g, ''), 'hex'), Buffer.from('0000', 'hex')]);
      const llcBody = Buffer.concat([Buffer.from('424203', 'hex'), Buffer.alloc(43, 0x5a)]);
      const llc = Buffer.concat([eth(llcBody.length), llcBody]);
      const badIhl = Buffer.concat([eth(0x0800), ipv4Header('10.9.9.1', '10.9.9.2', 17, 8), udpHeader(1, 2, 0)]);
      badIhl[14] = 0x43; // IHL 3: shorter than an IPv4 header can be
      const sent: Array<[Buffer, string, number]> = [[arp, '0x0806', 3], [pppoe, '0x8864', 2], [mpls, '0x8847', 2], [lldp, '0x88cc', 1], [llc, `0x${llcBody.length.toString(16).padStart(4, '0')}`, 2], [badIhl, '0x0800', 2]];
      x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '200', '-p', '--rate-limit', '0', '-w', file, 'not ip and not ip6 or ip[0] & 0xf < 5'], { ns: p.nsA });
      await x.ready();
      for (const [frame, , n] of sent) rawFrames(p.nsB, p.ifB, frame, n);
      const total = sent.reduce((n, [, , k]) => n + k, 0);
      await x.waitFor((r) => r.type === 'stats' && r.filter_passed === total);
      const r = await x.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
      const logged = r.records.filter((q) => q.type === 'packet');
      const got = logged.map((q) => `${q.proto} ${q.ethertype} ${q.src}>${q.dst} ${q.len} ${q.dir}`).sort();
      const want = sent.flatMap(([f, type, n]) => Array<string>(n).fill(`ether ${type} ${p.macB}>${f.subarray(0, 6).toString('hex').replace(/(..)(?!$)/g, '$1:')} ${f.length} ingress`)).sort();
      assert.deepEqual(got, want, 'every frame the filter passed, as sent');
      const sum = r.records.find((q) => q.type === 'summary')!;
      assert.deepEqual([sum.filter_passed, sum.events_sent, sum.captured], [total, total, total]);
      // the same frames in the file, as tcpdump reads them
      const cap = readCapture(file);
      assert.deepEqual(cap.packets.map((q) => q.data.toString('hex')).sort(), sent.flatMap(([f, , n]) => Array<string>(n).fill(f.toString('hex'))).sort());
      const td = spawnSync('tcpdump', ['-nn', '-r', file], { encoding: 'utf8' });
      assert.equal(td.stdout.split('\n').filter(Boolean).length, total, td.stderr);
    } finally {
      await x?.kill();
      p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('jumbo frames (MTU 9000): native XDP refused with the reason; generic XDP captures 8042-byte frames whole', async (t) => {
    if (!requireKernel(t) || !needs(t, 'tshark')) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = mkdtempSync(join(tmpdir(), 'xt-cap-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let x: XtraceProcess | null = null;
    try {
      p.exec(p.nsA, 'ip', 'link', 'set', p.ifA, 'mtu', '9000');
      p.exec(p.nsB, 'ip', 'link', 'set', p.ifB, 'mtu', '9000');
      const r = spawnSync('ip', ['netns', 'exec', p.nsA, process.execPath, CLI, 'xdp', '-i', p.ifA, '--ingress-hook', 'xdp', '--xdp-mode', 'native'], { encoding: 'utf8', env: { ...process.env, XTRACE_LOG_FORMAT: 'text' }, timeout: 30_000 * SLOWDOWN });
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr.trim(), /^xtrace: cannot attach XDP \(--xdp-mode native\) to \S+: xdp\/native: Numerical result out of range: the MTU is too large for this driver's native XDP$/m);
      assert.deepEqual(attachedHooks(p.ifA, p.nsA), { xdp: 'none', tcx: 0, tc: 0 });
      x = new XtraceProcess(['xdp', '-i', p.ifA, '--ingress-hook', 'xdp', '-o', 'json', '--interval', '60000', '-w', join(dir, 'j.pcapng'), 'icmp'], { ns: p.nsA });
      await x.ready();
      assert.match(x.stderr, /native XDP not available \(Numerical result out of range: the MTU is too large for this driver's native XDP\), falling back to generic XDP/);
      p.exec(p.nsB, 'ping', '-c', '3', '-i', '0.05', '-s', '8000', '-q', p.ipA);
      await sleep(300);
      const done = await x.stop('SIGINT');
      assert.equal(done.code, 0, done.stderr);
      const got = readCapture(join(dir, 'j.pcapng')).packets;
      // 3 requests in (XDP), 3 replies out (TC): 14 + 20 + 8 + 8000 bytes each, whole
      assert.deepEqual(got.map((q) => [q.dir, q.origLen, q.data.length]).sort(), [...Array(3).fill(['in', 8042, 8042]), ...Array(3).fill(['out', 8042, 8042])].sort());
    } finally {
      await x?.kill();
      rmSync(dir, { recursive: true, force: true });
      p.destroy();
    }
  });

  test('bad expressions, an unwritable path, a full disk: one clear line, nothing attached', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = mkdtempSync(join(tmpdir(), 'xt-cap-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const full = join(dir, 'full');
    let x: XtraceProcess | null = null;
    try {
      const run = (...args: string[]): { status: number | null; stderr: string } => {
        const r = spawnSync('ip', ['netns', 'exec', p.nsA, process.execPath, CLI, 'xdp', '-i', p.ifA, ...args], { encoding: 'utf8', env: { ...process.env, XTRACE_LOG_FORMAT: 'text' }, timeout: 30_000 * SLOWDOWN });
        return { status: r.status, stderr: r.stderr.trim() };
      };
      const cases: Array<[string[], RegExp]> = [
        [['--filter', 'tcp port'], /^xtrace: --filter: [^\n]*syntax error[^\n]* \(in 'tcp port'\)$/],
        [['udp', 'port', 'ninety'], /^xtrace: --filter: .*ninety.*\(in 'udp port ninety'\)$/],
        [['--filter', 'tcp', 'udp'], /^xtrace: --filter: given twice, as the flag and as the words after the options \('udp'\); use one$/],
        [['-w', '/nonexistent/dir/x.pcapng'], /^xtrace: -w\/--write: cannot write '\/nonexistent\/dir\/x\.pcapng': no such directory; expected a file path in a writable directory, or - for stdout$/],
        [['-w', dir], /^xtrace: -w\/--write: cannot write '.*': is a directory/],
        [['-w', '10.0.0.5'], /^xtrace: -w\/--write: expected a file to write pcapng to \(or - for stdout\), got '10\.0\.0\.5'; to count an address's traffic use --watch-ip 10\.0\.0\.5$/],
        [['--snaplen', '5'], /^xtrace: --snaplen: expected a whole number from 14 to 9216, got '5'$/],
        [['-B', '32', '-w', join(dir, 'b.pcapng')], /^xtrace: -B\/--buffer-size: expected a whole number from 64 to 1048576, got '32'$/],
        [['--protocol', 'tcp', '--filter', 'vlan 100'], /^xtrace: --protocol: cannot be combined with a filter expression that uses vlan, mpls, pppoes or geneve \(they move the offsets of what follows\); write the whole filter as an expression$/],
        [['--src-ip', '10.0.0.1', '--dst-ip', 'fd00::1'], /^xtrace: --src-ip, --dst-ip: 10\.0\.0\.1 and fd00::1 are of different IP versions, so no packet has both; give two of one version$/],
        [['--protocol', 'icmp', '--filter', 'ip6'], /^xtrace: --filter, --protocol: expression rejects all packets \(in '\(ip6\) and .*'\)$/],
      ];
      for (const [args, re] of cases) {
        const r = run(...args);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, re);
        assert.equal(r.stderr.split('\n').length, 1, r.stderr);
        assert.deepEqual(attachedHooks(p.ifA, p.nsA), { xdp: 'none', tcx: 0, tc: 0 });
      }
      // a full disk mid-run: one error line, exit 1, everything detached
      execFileSync('mkdir', ['-p', full]);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'xt-cap-full', full]);
      x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--interval', '100', '-w', join(full, 'x.pcapng')], { ns: p.nsA, env: { XTRACE_LOG_LEVEL: 'warn' } });
      await x.ready();
      await echoing(p.nsA, p.ipA, [9000], () => traffic(p.nsB, 'udp-send', p.ipA, 9000, 100, 1000, 40000));
      const r = await Promise.race([x.wait(), sleep(10_000 * SLOWDOWN).then(() => null)]);
      assert.ok(r, 'xtrace stops when the disk is full');
      assert.equal(r.code, 1, r.stderr);
      // (a kernel without tcx links adds its warning about the classic TC filters, once per hook)
      const lines = r.stderr.trim().split('\n').filter((l) => !/ this kernel has no tcx links; /.test(l));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /error: -w\/--write: writing '.*x\.pcapng' failed: no space left on device \(\d+ packets written before\)$/);
      assert.deepEqual(attachedHooks(p.ifA, p.nsA), { xdp: 'none', tcx: 0, tc: 0 });
      const kept = readCapture(join(full, 'x.pcapng'));
      assert.ok(kept.packets.length > 0, 'what fit is readable');
    } finally {
      await x?.kill();
      spawnSync('umount', [full]);
      rmSync(dir, { recursive: true, force: true });
      p.destroy();
    }
    assert.ok(!existsSync(full));
  });
});
