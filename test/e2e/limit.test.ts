/**
 * limit mode against the real kernel: senders and receivers in two namespaces joined by a veth, rates
 * measured by the receiving side over a window that starts after the bucket's initial burst.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Rec, XtraceProcess, sleep } from '../lib/cli.js';
import { CLI, SLOWDOWN, requireKernel } from '../lib/env.js';
import { bpftoolHas } from '../lib/hooks.js';
import { NetnsPair } from '../lib/netns.js';
import { cgroup2Root, inChildPidNamespace } from '../../src/host/procs.js';
import { server } from '../lib/peer.js';

const TRAFFIC = fileURLToPath(new URL('../lib/traffic.js', import.meta.url));
const MiB = 1024 * 1024;
const TARGET = 2 * MiB;
/** An unlimited sender over a veth moves hundreds of MiB/s (tens under software emulation); a limited one 2 MiB/s. */
const FULL_SPEED = (20 * TARGET) / SLOWDOWN;

const cgroup2 = (): string | null => (cgroup2Root() ? null : 'needs a cgroup v2 hierarchy');
/** limit -p from a PID namespace of its own is refused (its PIDs are not the kernel's): such a run cannot test it */
const hostPids = (): string | null =>
  inChildPidNamespace() ? "limit -p needs the host's PID namespace (this runs in one of its own: a container without --pid=host)" : null;
const needCgroup2 = (): string | null => hostPids() ?? cgroup2();
/** The kernel has this tracepoint (its BTF has the tp_btf type; tracefs need not be mounted). */
const bpftoolHasTracepoint = (name: string): boolean =>
  spawnSync('sh', ['-c', `bpftool btf dump file /sys/kernel/btf/vmlinux | grep -q "TYPEDEF 'btf_trace_${name}'"`]).status === 0;

/** A traffic command in a namespace whose PID is the node process itself (`ip netns exec` execs). */
class Peer {
  readonly proc: ChildProcess;
  private out = '';
  readonly done: Promise<string>;
  constructor(ns: string, args: Array<string | number>, wrap?: (argv: string[]) => string[]) {
    const argv = ['ip', 'netns', 'exec', ns, process.execPath, TRAFFIC, ...args.map(String)];
    const full = wrap ? wrap(argv) : argv;
    this.proc = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.done = new Promise((r) => this.proc.on('close', () => r(this.out)));
  }
  get pid(): number {
    return this.proc.pid!;
  }
  async printed(what: string, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.out.includes(what)) {
      if (Date.now() > end || this.proc.exitCode !== null) throw new Error(`traffic did not print '${what}': ${this.out}`);
      await sleep(20);
    }
  }
  lines(): string[] {
    return this.out.split('\n');
  }
  /** The last line it printed, once it has exited. */
  async result(): Promise<string> {
    return (await this.done).trim().split('\n').at(-1)!;
  }
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** A receiver measuring bytes per second over [skip, skip + window] after its first byte. */
async function meter(p: NetnsPair, port: number, skipMs: number, windowMs: number, go?: string): Promise<{ proc: ChildProcess; rate: () => Promise<number> }> {
  const m = new Peer(p.nsB, ['tcp-meter', p.ipB, port, skipMs, windowMs, ...(go ? [go] : [])]);
  await m.printed('ready');
  return {
    proc: m.proc,
    rate: async () => {
      await m.printed('{"bytes"', skipMs + windowMs + 20_000);
      const r = JSON.parse(m.lines().find((l) => l.startsWith('{'))!) as { bytes: number; seconds: number };
      return r.bytes / r.seconds;
    },
  };
}

const mib = (x: number): string => `${(x / MiB).toFixed(2)} MiB/s`;
function assertNear(rate: number, target: number, tol: number, what: string): void {
  assert.ok(Math.abs(rate / target - 1) <= tol, `${what}: ${mib(rate)}, expected ${mib(target)} +/- ${tol * 100}%`);
}

const summaryOf = (rs: Rec[]): Rec => {
  const s = rs.find((r) => r.type === 'summary');
  assert.ok(s, 'a summary record at exit');
  return s;
};
const limitsOf = (s: Rec): Rec[] => s.limits as Rec[];

/** Links this run made that the kernel still has (none once xtrace is gone). */
const leftLinks = (ready: { links: Array<{ link_id: number }> }): number[] => ready.links.map((l) => l.link_id).filter((id) => id && bpftoolHas('link', id));

/** GET the metrics; a connection reset is retried twice (seen once under software emulation, with the CPUs saturated). */
async function scrape(url: string): Promise<string> {
  for (let i = 0; ; i++)
    try {
      return await (await fetch(url)).text();
    } catch (e) {
      const why = String(((e as Error).cause as Error | undefined)?.message ?? (e as Error).message);
      if (i === 2 || !/ECONNRESET/.test(why)) throw new Error(`${url}: ${(e as Error).message} (${why})`);
      await sleep(500);
    }
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'xt-limit-'));
}

describe('limit', () => {
  test('egress: a TCP sender is held to 2 MiB/s +/- 10% (its socket opened before the limit started) while an unlimited one is not slowed', async (t) => {
    if (!requireKernel(t, needCgroup2)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const go = join(dir, 'go');
    const peers: Peer[] = [];
    const meters: ChildProcess[] = [];
    let x: XtraceProcess | null = null;
    try {
      const limitedM = await meter(p, 5301, 2000, 5000);
      const freeM = await meter(p, 5302, 2000, 5000);
      meters.push(limitedM.proc, freeM.proc);
      // the senders outlast the test (killed at its end): the run must not end with them
      const limited = new Peer(p.nsA, ['tcp-blast', p.ipB, 5301, 120_000, go]);
      const free = new Peer(p.nsA, ['tcp-blast', p.ipB, 5302, 120_000, go]);
      peers.push(limited, free);
      await Promise.all([limited.printed('connected'), free.printed('connected')]);
      x = new XtraceProcess(['limit', '-p', String(limited.pid), '-r', '2M', '-t', '1', '-o', 'json', '--interval', '500', '--metrics-listen', '127.0.0.1:0']);
      await x.ready();
      writeFileSync(go, '');
      // the exported counters, while it runs
      await x.waitFor((r) => r.event === 'stats' && (r.passed_bytes as number) > TARGET);
      const metrics = await scrape(x.metricsUrl());
      const labels = `{target="pid",pid="${limited.pid}",comm="node",direction="egress"}`;
      assert.ok(metrics.includes(`xtrace_limit_target_bytes_per_second${labels} ${TARGET}\n`), metrics);
      const passed = Number(new RegExp(`xtrace_limit_passed_bytes_total${labels.replace(/[{}]/g, '\\$&')} (\\d+)`).exec(metrics)?.[1]);
      assert.ok(passed > TARGET, `passed bytes exported: ${passed}`);
      const [lr, fr] = await Promise.all([limitedM.rate(), freeM.rate()]);
      // Under software emulation (test-kernels) the unlimited sender beside it takes the emulated CPUs and
      // the limited one's pacing timers fire late (6.1 in qemu: 1.75 MiB/s); on hardware 10% holds.
      assertNear(lr, TARGET, SLOWDOWN > 1 ? 0.15 : 0.1, 'limited sender, measured by the receiver');
      assert.ok(fr > FULL_SPEED, `unlimited sender at full speed: ${mib(fr)}`);

      const r = await x.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
      const map = r.records.find((e) => e.event === 'map' && e.pid === limited.pid);
      assert.ok(map, 'the socket was tagged');
      // fentry and tp_btf tag the socket's storage at its first send; kprobe and tracepoint learn its IP:port first
      const raw = /first_send=(kprobe|tracepoint):/.test(r.stderr);
      assert.equal(map.via, raw ? 'learnt' : 'send', 'a socket that existed before start is tagged at its first send');
      const [l] = limitsOf(summaryOf(r.records));
      assert.equal(l!.pid, limited.pid);
      assert.ok((l!.passed_bytes as number) > 5 * TARGET, 'passed bytes counted');
      assert.ok((l!.congestion_signals as number) > 0, 'TCP was told to slow down');
      assert.equal(r.stdout.split('\n').filter((s) => s.startsWith('{')).length, r.records.length, 'every stdout line is a JSON record');
    } finally {
      await x?.kill();
      for (const q of peers) q.kill();
      for (const m of meters) m.kill();
      p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const how of ['SIGINT', 'SIGKILL'] as const)
    test(`after ${how} the same sender runs at full speed again and nothing is left attached`, async (t) => {
      if (!requireKernel(t, needCgroup2)) return;
      const p = new NetnsPair();
      t.after(() => p.destroy());
      const root = cgroup2Root()!;
      const dir = tmp();
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const go = join(dir, 'go');
      const measure = join(dir, 'measure');
      let x: XtraceProcess | null = null;
      let sender: Peer | null = null;
      let m: Awaited<ReturnType<typeof meter>> | null = null;
      try {
        m = await meter(p, 5303, 500, 2500, measure); // counts from 0.5 s after the limit is gone
        sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5303, 120_000, go]);
        await sender.printed('connected');
        x = new XtraceProcess(['limit', '-p', String(sender.pid), '-r', '2M', '-q', '-o', 'json', '--interval', '500']);
        const ready = await x.ready();
        assert.ok(ready.links.some((l) => l.kind === 'cgroup/inet_egress' && l.target === root), `a cgroup_skb egress link on ${root}`);
        writeFileSync(go, '');
        // limited, for a while: the bucket has dropped or signalled congestion (a paced sender may never be dropped)
        await x.waitFor((r) => r.event === 'stats' && (r.passed_bytes as number) > 0 && (r.dropped_packets as number) + (r.congestion_signals as number) > 0);
        const r = await x.stop(how);
        if (how === 'SIGINT') assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(leftLinks(ready), [], 'no link of the run is left');
        const cg = execFileSync('bpftool', ['-j', 'cgroup', 'show', root], { encoding: 'utf8' });
        for (const l of ready.links) assert.ok(!cg.includes(`"id":${l.prog_id},`), `program ${l.prog_id} no longer on ${root}`);
        writeFileSync(measure, '');
        const rate = await m.rate();
        assert.ok(rate > FULL_SPEED, `full speed after the limit is gone: ${mib(rate)}`);
      } finally {
        await x?.kill();
        sender?.kill();
        m?.proc.kill();
        p.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    });

  for (const mib of [2, 10])
    test(`ingress: a TCP receiver is held to ${mib} MiB/s +/- 10%, and under 5% of the sender's segments are retransmitted (its ACKs are held back, not its data dropped)`, async (t) => {
      if (!requireKernel(t, needCgroup2)) return;
      const p = new NetnsPair();
      t.after(() => p.destroy());
      const target = mib * MiB;
      const m = await meter(p, 5304, 3000, 5000);
      t.after(() => void m.proc.kill());
      const x = new XtraceProcess(['limit', '-p', String(m.proc.pid), '-d', 'ingress', '-r', `${mib}M`, '-q', '-o', 'json', '--interval', '500']);
      t.after(() => x.kill());
      await x.ready();
      const before = p.nstat(p.nsA, 'TcpOutSegs', 'TcpRetransSegs');
      // the sender outlasts the run (killed at the end): a socket closed before exit has nothing to be given back
      const sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5304, 120_000]);
      t.after(() => sender.kill());
      const rate = await m.rate();
      const after = p.nstat(p.nsA, 'TcpOutSegs', 'TcpRetransSegs');
      assertNear(rate, target, 0.1, 'limited receiver');
      const out = (after.TcpOutSegs ?? 0) - (before.TcpOutSegs ?? 0);
      const retrans = (after.TcpRetransSegs ?? 0) - (before.TcpRetransSegs ?? 0);
      assert.ok(retrans < 0.05 * out, `${retrans} of ${out} segments retransmitted (${((100 * retrans) / out).toFixed(2)}%)`);
      const r = await x.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
      const s = summaryOf(r.records);
      const [l] = limitsOf(s);
      assert.equal(l!.direction, 'ingress');
      assert.ok((l!.acks_held as number) > 0, 'ACKs were held back');
      assert.ok((s.sockets_paced as number) >= 1 && s.sockets_restored === s.sockets_paced, `window clamped and given back: ${s.sockets_paced} / ${s.sockets_restored}; ${r.stderr.split('\n').filter((l) => /pacing|socket/i.test(l)).join(' | ')}`);
    });

  for (const mib of [2, 10])
    test(`egress: every one-second window carries the target within 5% after the first two seconds (TCP paced at the rate), ${mib} MiB/s`, async (t) => {
      if (!requireKernel(t, needCgroup2)) return;
      const p = new NetnsPair();
      t.after(() => p.destroy());
      const dir = tmp();
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const go = join(dir, 'go');
      const target = mib * MiB;
      const sink = await server(p.nsB, 'tcp-sink', p.ipB, 5314);
      t.after(() => void sink.proc.kill());
      const sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5314, 120_000, go]);
      t.after(() => sender.kill());
      await sender.printed('connected');
      const x = new XtraceProcess(['limit', '-p', String(sender.pid), '-r', `${mib}M`, '-q', '-o', 'json', '--interval', '1000']);
      t.after(() => x.kill());
      await x.ready();
      writeFileSync(go, '');
      // IP bytes the receiving interface took, each second: its bytes less 14 of Ethernet a frame
      const ipBytes = (): number => {
        const s = p.linkStats(p.nsB, p.ifB);
        return s.rx_bytes - 14 * s.rx_packets;
      };
      await sleep(2000);
      const samples = [ipBytes()];
      const start = performance.now();
      let at = start;
      const windows: number[] = [];
      for (let i = 0; i < 8; i++) {
        await sleep(1000);
        const now = performance.now(); // the rate over the time that actually passed
        samples.push(ipBytes());
        windows.push(((samples.at(-1)! - samples.at(-2)!) / ((now - at) / 1000)));
        at = now;
      }
      const text = windows.map((w) => (w / MiB).toFixed(3)).join(' ');
      if (SLOWDOWN > 1) {
        // Under software emulation timers fire late by tens of milliseconds (this test's own and TCP's
        // pacing timer): one second is no window there (6.1 in qemu: 1.4 to 3.9 MiB/s at 2); the mean holds.
        t.diagnostic(`software emulation: the mean of the windows, not each: ${text}`);
        assertNear((samples.at(-1)! - samples[0]!) / ((at - start) / 1000), target, 0.1, 'the rate over the 8 s');
      } else assert.ok(windows.every((w) => Math.abs(w / target - 1) <= 0.05), `MiB/s each second: ${text} (target ${mib})`);
      const r = await x.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
      const s = summaryOf(r.records);
      assert.ok((s.sockets_paced as number) >= 1 && s.sockets_restored === s.sockets_paced, `paced and given back: ${s.sockets_paced} / ${s.sockets_restored}`);
    });

  for (const cn of [true, false])
    test(`UDP${cn ? '' : ' --no-congestion-signal'}: every datagram passes or is dropped and counted, exactly`, async (t) => {
      if (!requireKernel(t, needCgroup2)) return;
      const p = new NetnsPair();
      t.after(() => p.destroy());
      const dir = tmp();
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const go = join(dir, 'go');
      const COUNT = 2000;
      const SIZE = 1000; // 1028 IP bytes
      let x: XtraceProcess | null = null;
      let sender: Peer | null = null;
      let sink: Awaited<ReturnType<typeof server>> | null = null;
      try {
        sink = await server(p.nsB, 'udp-sink', p.ipB, 5305, 1500 * SLOWDOWN);
        const rcvErr0 = p.nstat(p.nsB, 'UdpRcvbufErrors').UdpRcvbufErrors ?? 0;
        const sndErr0 = p.nstat(p.nsA, 'UdpSndbufErrors').UdpSndbufErrors ?? 0;
        sender = new Peer(p.nsA, ['udp-count', p.ipB, 5305, COUNT, SIZE, 40000, go]);
        x = new XtraceProcess(['limit', '-p', String(sender.pid), '-r', '100K', '-t', '0.1', '-o', 'json', '--event-limit', '0', ...(cn ? [] : ['--no-congestion-signal'])]);
        await x.ready();
        writeFileSync(go, '');
        const sent = JSON.parse(await sender.result()) as { ok: number; failed: number; codes: Record<string, number> };
        const received = Number(await sink.output());
        const rcvErr = (p.nstat(p.nsB, 'UdpRcvbufErrors').UdpRcvbufErrors ?? 0) - rcvErr0;
        const sndErr = (p.nstat(p.nsA, 'UdpSndbufErrors').UdpSndbufErrors ?? 0) - sndErr0;
        const r = await x.wait(); // the sender exits, and with it the run
        assert.equal(r.code, 0, r.stderr);
        const [l] = limitsOf(summaryOf(r.records));
        const passed = l!.passed_packets as number;
        const dropped = l!.dropped_packets as number;
        assert.ok(passed > 0 && dropped > 0, `some passed (${passed}), some were over the limit (${dropped})`);
        assert.equal(passed + dropped, COUNT, 'every datagram sent was counted once');
        assert.equal(received + rcvErr, passed, 'the receiver got every datagram that passed');
        if (cn) {
          // drop with NET_XMIT_CN: the kernel turns it into ENOBUFS, which UDP hides from the sender (no IP_RECVERR) but counts
          assert.deepEqual(sent, { ok: COUNT, failed: 0, codes: {} });
          assert.equal(sndErr, dropped, 'UdpSndbufErrors counts each drop');
        } else assert.deepEqual(sent, { ok: passed, failed: dropped, codes: { EPERM: dropped } }, 'a plain drop is EPERM to the sender');
        assert.equal(l!.passed_bytes, passed * (SIZE + 28));
        assert.equal(l!.dropped_bytes, dropped * (SIZE + 28));
        const ev = r.records.filter((e) => e.type === 'limit');
        assert.equal(ev.filter((e) => e.event === 'drop').length, dropped, 'one [drop] event per dropped datagram (--event-limit 0)');
        assert.equal(ev.filter((e) => e.event === 'send').length, passed, 'one [send] event per datagram sent');
        assert.ok(ev.some((e) => e.event === 'map' && e.via === 'sock_create'), 'the socket was tagged at creation');
      } finally {
        await x?.kill();
        sender?.kill();
        sink?.proc.kill();
        p.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    });

  test('UDP ingress: datagrams to a socket bound before start, which never sent, are attributed by its IP:port learnt from /proc', async (t) => {
    if (!requireKernel(t, needCgroup2)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const COUNT = 1000;
    const SIZE = 1000;
    let x: XtraceProcess | null = null;
    let sink: Awaited<ReturnType<typeof server>> | null = null;
    try {
      sink = await server(p.nsB, 'udp-sink', p.ipB, 5310, 1500 * SLOWDOWN);
      const rcvErr0 = p.nstat(p.nsB, 'UdpRcvbufErrors').UdpRcvbufErrors ?? 0;
      x = new XtraceProcess(['limit', '-p', String(sink.proc.pid), '-d', 'ingress', '-r', '100K', '-t', '0.1', '-o', 'json']);
      await x.ready();
      const dir = tmp();
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(join(dir, 'go'), '');
      const sent = JSON.parse(execFileSync('ip', ['netns', 'exec', p.nsA, process.execPath, TRAFFIC, 'udp-count', p.ipB, '5310', String(COUNT), String(SIZE), '40001', join(dir, 'go')], { encoding: 'utf8' })) as { ok: number };
      rmSync(dir, { recursive: true, force: true });
      assert.equal(sent.ok, COUNT, 'the sender is not limited');
      const received = Number(await sink.output());
      const rcvErr = (p.nstat(p.nsB, 'UdpRcvbufErrors').UdpRcvbufErrors ?? 0) - rcvErr0;
      await sleep(300);
      const r = await x.stop('SIGINT');
      const [l] = limitsOf(summaryOf(r.records));
      const learn = r.records.find((e) => e.event === 'learn');
      assert.ok(learn, 'a [learn] event');
      assert.deepEqual([learn.ip, learn.port, learn.proto, learn.via], [p.ipB, 5310, 'UDP', 'proc']);
      assert.equal((l!.passed_packets as number) + (l!.dropped_packets as number), COUNT, 'every datagram to the socket was counted once');
      assert.ok((l!.dropped_packets as number) > 0, 'some were over the limit');
      assert.equal(received + rcvErr, l!.passed_packets, 'the receiver got every datagram that passed');
    } finally {
      await x?.kill();
      sink?.proc.kill();
      p.destroy();
    }
  });

  test('kprobe/tracepoint attribution path: a socket learnt by its IP:port moves into socket storage (classic tracepoint, the others turned off)', async (t) => {
    // kprobe where the kernel has kprobes (fentry off), else the classic tracepoint (6.3+; the rest off)
    const kprobes = existsSync('/sys/bus/event_source/devices/kprobe/type');
    const kind = kprobes ? 'kprobe' : 'tracepoint';
    const tp = (): string | null => (kprobes || bpftoolHasTracepoint('sock_send_length') ? null : 'needs kprobes or the tracepoint sock:sock_send_length (6.3+)');
    if (!requireKernel(t, () => needCgroup2() ?? tp())) return;
    let mounted = false;
    if (!existsSync('/sys/kernel/tracing/events')) {
      execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
      mounted = true;
    }
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const go = join(dir, 'go');
    let x: XtraceProcess | null = null;
    let sender: Peer | null = null;
    let m: Awaited<ReturnType<typeof meter>> | null = null;
    try {
      m = await meter(p, 5311, 2000, 5000);
      sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5311, 120_000, go]);
      await sender.printed('connected');
      x = new XtraceProcess(['limit', '-p', String(sender.pid), '-r', '2M', '-o', 'json', '-v'], { env: { XTRACE_DISABLE_HOOKS: kprobes ? 'fentry' : 'fentry,kprobe,tp_btf' } });
      await x.ready();
      assert.match(x.stderr, kprobes ? /first_send=kprobe:tcp_sendmsg/ : /first_send=tracepoint:sock\/sock_send_length/);
      writeFileSync(go, '');
      assertNear(await m.rate(), TARGET, 0.1, 'limited through the learnt IP:port');
      const r = await x.stop('SIGINT');
      assert.ok(r.records.some((e) => e.event === 'learn' && e.proto === 'TCP' && e.pid === sender!.pid), `learnt by the ${kind}`);
      assert.ok(r.records.some((e) => e.event === 'map' && e.via === 'learnt' && e.pid === sender!.pid), 'moved into the socket storage by the cgroup program');
    } finally {
      await x?.kill();
      sender?.kill();
      m?.proc.kill();
      p.destroy();
      rmSync(dir, { recursive: true, force: true });
      if (mounted) spawnSync('umount', ['/sys/kernel/tracing']);
    }
  });

  test('--cgroup limits every process of a cgroup as one', async (t) => {
    // a container's /sys/fs/cgroup is read-only: no test cgroup can be made there
    const writable = (): string | null => {
      try {
        accessSync(cgroup2Root()!, constants.W_OK);
        return null;
      } catch {
        return `needs a writable cgroup v2 hierarchy (${cgroup2Root()} is read-only)`;
      }
    };
    if (!requireKernel(t, () => cgroup2() ?? writable())) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const cg = join(cgroup2Root()!, `xtrace-test-${process.pid}`);
    mkdirSync(cg);
    const peers: Peer[] = [];
    const meters: ChildProcess[] = [];
    let x: XtraceProcess | null = null;
    try {
      // both senders start at one signal (the go file) and both meters count over the same interval:
      // windows of their own would add a stretch where one sender had the whole rate to itself
      const go = join(dir, 'go');
      const ms = [await meter(p, 5306, 2500, 5000, go), await meter(p, 5307, 2500, 5000, go)];
      meters.push(...ms.map((m) => m.proc));
      x = new XtraceProcess(['limit', '--cgroup', cg, '-r', '2M', '-q', '-o', 'json']);
      const ready = await x.ready();
      assert.ok(ready.links.some((l) => l.kind === 'cgroup/inet_egress' && l.target === cg));
      // each sender moves itself into the cgroup before it execs
      const inCg = (argv: string[]): string[] => ['sh', '-c', `echo $$ > ${cg}/cgroup.procs && exec "$@"`, 'sh', ...argv];
      peers.push(new Peer(p.nsA, ['tcp-blast', p.ipB, 5306, 9000, go], inCg), new Peer(p.nsA, ['tcp-blast', p.ipB, 5307, 9000, go], inCg));
      for (const q of peers) await q.printed('connected');
      writeFileSync(go, '');
      const rates = await Promise.all(ms.map((m) => m.rate()));
      assertNear(rates[0]! + rates[1]!, TARGET, 0.1, `two senders of the cgroup together (${rates.map(mib).join(' + ')})`);
      const r = await x.stop('SIGINT');
      const [l] = limitsOf(summaryOf(r.records));
      assert.equal(l!.cgroup, cg);
    } finally {
      await x?.kill();
      for (const q of peers) q.kill();
      for (const m of meters) m.kill();
      p.destroy();
      rmSync(dir, { recursive: true, force: true });
      for (let i = 0; i < 50 && existsSync(cg); i++) {
        try {
          rmdirSync(cg);
        } catch {
          await sleep(100); // its processes are still exiting
        }
      }
    }
  });

  // a run that does not end by itself fails here, by name, not as the file's timeout
  test('--children: a process forked after start joins the limit; xtrace exits when every limited process has', { timeout: 90_000 * SLOWDOWN }, async (t) => {
    if (!requireKernel(t, needCgroup2)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const go = join(dir, 'go');
    let x: XtraceProcess | null = null;
    let parent: ChildProcess | null = null;
    let m: Awaited<ReturnType<typeof meter>> | null = null;
    const stop = async (): Promise<void> => {
      await x?.kill();
      // the shell and the sender it started: a process group of their own
      if (parent?.pid) {
        try {
          process.kill(-parent.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      m?.proc.kill();
    };
    t.after(stop); // also when the test times out
    try {
      m = await meter(p, 5308, 2000, 4000);
      const blast = ['ip', 'netns', 'exec', p.nsA, process.execPath, TRAFFIC, 'tcp-blast', p.ipB, '5308', '7000'];
      parent = spawn('sh', ['-c', `while [ ! -e ${go} ]; do sleep 0.05; done; "$@"; true`, 'sh', ...blast], { stdio: 'ignore', detached: true });
      x = new XtraceProcess(['limit', '-p', String(parent.pid), '--children', '-r', '2M', '-o', 'json', '--interval', '500']);
      await x.ready();
      writeFileSync(go, '');
      assertNear(await m.rate(), TARGET, 0.1, "the parent's child");
      const r = await x.wait(); // the shell and its child exit; so does xtrace
      assert.equal(r.code, 0, r.stderr);
      const fork = r.records.find((e) => e.event === 'fork');
      assert.ok(fork, 'a [fork] event');
      assert.equal(fork.pid, parent.pid);
      assert.match(r.stderr, /every limited process has exited/);
      assert.ok(summaryOf(r.records));
    } finally {
      await stop();
      p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a -p process that exits is reported; the others stay limited; the last one ends the run', async (t) => {
    if (!requireKernel(t, needCgroup2)) return;
    const a = spawn('sleep', ['60']);
    const b = spawn('sleep', ['60']);
    const x = new XtraceProcess(['limit', '-p', String(a.pid), '-p', String(b.pid), '-r', '1M', '-q', '-o', 'json', '--interval', '200']);
    t.after(() => x.kill());
    try {
      await x.ready();
      a.kill();
      await x.waitFor((r) => r.event === 'stats' && r.pid === a.pid && r.alive === false);
      assert.match(x.stderr, new RegExp(`-p ${a.pid} \\(sleep\\): the process exited; still limiting 1 process`));
      assert.equal(x.child.exitCode, null, 'still running for the other');
      b.kill();
      const r = await x.wait();
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(limitsOf(summaryOf(r.records)).map((l) => [l.pid, l.alive]), [[a.pid, false], [b.pid, false]]);
    } finally {
      await x.kill();
      a.kill();
      b.kill();
    }
  });

  test('--hook netfilter: LOCAL_OUT of the namespace, a sender attributed by its learnt IP:port', async (t) => {
    const nfLinks = (): string | null => (/ bpf_nf_link_attach$/m.test(readFileSync('/proc/kallsyms', 'utf8')) ? null : 'needs BPF netfilter links (kernel 6.4+)');
    if (!requireKernel(t, () => needCgroup2() ?? nfLinks())) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    let sender: Peer | null = null;
    let m: Awaited<ReturnType<typeof meter>> | null = null;
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const go = join(dir, 'go');
    try {
      m = await meter(p, 5309, 2500, 5000);
      sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5309, 120_000, go]);
      await sender.printed('connected');
      x = new XtraceProcess(['limit', '-p', String(sender.pid), '--hook', 'netfilter', '-r', '2M', '-o', 'json'], { ns: p.nsA });
      const ready = await x.ready();
      assert.ok(ready.links.some((l) => l.kind === 'netfilter/ipv4/local_out'), JSON.stringify(ready.links));
      writeFileSync(go, '');
      assertNear(await m.rate(), TARGET, 0.1, 'limited at netfilter');
      const r = await x.stop('SIGINT');
      assert.ok(r.records.some((e) => e.event === 'learn' && e.pid === sender!.pid && e.proto === 'TCP'), 'the socket was learnt');
      assert.equal(limitsOf(summaryOf(r.records))[0]!.congestion_signals, 0, 'netfilter can only drop');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await x?.kill();
      sender?.kill();
      m?.proc.kill();
      p.destroy();
    }
  });

  test('metrics: every series at zero from the first scrape after ready; a run that ends by itself (its process exited) serves the final values to one more scrape, then exits', async (t) => {
    if (!requireKernel(t, needCgroup2)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const go = join(dir, 'go');
    const m = await meter(p, 5313, 0, 8000);
    t.after(() => void m.proc.kill());
    const sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5313, 2500, go]); // sends for 2.5 s, then exits
    t.after(() => sender.kill());
    await sender.printed('connected');
    const x = new XtraceProcess(['limit', '-p', String(sender.pid), '-r', '2M', '-q', '-o', 'json', '--interval', '1000', '--metrics-listen', '127.0.0.1:0']);
    t.after(() => x.kill());
    await x.ready();
    const labels = `{target="pid",pid="${sender.pid}",comm="node",direction="egress"}`;
    const value = (text: string, name: string): number => Number(new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    const first = await scrape(x.metricsUrl());
    assert.equal(value(first, 'xtrace_limit_passed_bytes_total'), 0, first);
    assert.equal(value(first, 'xtrace_limit_target_bytes_per_second'), TARGET, first);
    writeFileSync(go, '');
    for (let i = 0; i < 300 * SLOWDOWN && !/waiting up to 30 s for a last scrape/.test(x.stderr); i++) await sleep(50);
    assert.match(x.stderr, /every limited process has exited: removing the limit/);
    assert.match(x.stderr, /waiting up to 30 s for a last scrape/);
    const last = await scrape(x.metricsUrl());
    const started = performance.now();
    const r = await x.wait();
    assert.equal(r.code, 0, r.stderr);
    assert.ok(performance.now() - started < 3000, 'it exits once the last scrape is served');
    assert.match(r.stderr, /the final values were scraped/);
    const [l] = limitsOf(summaryOf(r.records));
    assert.ok((l!.passed_bytes as number) > TARGET, `passed ${l!.passed_bytes as number} bytes`);
    assert.equal(value(last, 'xtrace_limit_passed_bytes_total'), l!.passed_bytes, 'the last scrape has the final count, as the summary');
    assert.equal(value(last, 'xtrace_limit_passed_packets_total'), l!.passed_packets);
    assert.equal(value(last, 'xtrace_limit_dropped_bytes_total'), l!.dropped_bytes);
  });

  test('--hook netfilter from another network namespace: the hooks go in the limited process\'s, and the limit holds', async (t) => {
    const nfLinks = (): string | null => (/ bpf_nf_link_attach$/m.test(readFileSync('/proc/kallsyms', 'utf8')) ? null : 'needs BPF netfilter links (kernel 6.4+)');
    if (!requireKernel(t, () => hostPids() ?? nfLinks())) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const go = join(dir, 'go');
    const m = await meter(p, 5310, 2500, 5000);
    t.after(() => void m.proc.kill());
    const sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5310, 120_000, go]);
    t.after(() => sender.kill());
    await sender.printed('connected');
    // xtrace in the root namespace, the sender in A: LOCAL_OUT of the root namespace never sees its packets
    const x = new XtraceProcess(['limit', '-p', String(sender.pid), '--hook', 'netfilter', '-r', '2M', '-o', 'json']);
    t.after(() => x.kill());
    const ready = await x.ready();
    assert.ok(ready.links.some((l) => l.kind === 'netfilter/ipv4/local_out' && l.target === `ipv4/local_out@/proc/${sender.pid}/ns/net`), JSON.stringify(ready.links));
    const ino = statSync(`/proc/${sender.pid}/ns/net`).ino;
    assert.match(x.stderr, new RegExp(`enforcing at netfilter in the network namespace net:\\[${ino}\\] of PID ${sender.pid};`));
    writeFileSync(go, '');
    assertNear(await m.rate(), TARGET, 0.1, 'limited at netfilter in the sender\'s namespace');
    assert.equal((await x.stop('SIGINT')).code, 0);
  });

  test('under `ip netns exec` (no cgroup hierarchy mounted there) the cgroup_skb hook is found through an ancestor\'s mounts and holds a sender in another namespace', async (t) => {
    if (!requireKernel(t, needCgroup2)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const go = join(dir, 'go');
    const m = await meter(p, 5311, 2500, 5000);
    t.after(() => void m.proc.kill());
    const sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5311, 120_000, go]);
    t.after(() => sender.kill());
    await sender.printed('connected');
    const x = new XtraceProcess(['limit', '-p', String(sender.pid), '-r', '2M', '-o', 'json'], { ns: p.nsB });
    t.after(() => x.kill());
    const ready = await x.ready();
    assert.ok(ready.links.some((l) => l.kind === 'cgroup/inet_egress' && /^\/proc\/\d+\/root\//.test(l.target)), JSON.stringify(ready.links));
    writeFileSync(go, '');
    assertNear(await m.rate(), TARGET, 0.1, 'limited at cgroup_skb');
    assert.equal((await x.stop('SIGINT')).code, 0);
  });

  test('no cgroup v2 hierarchy (XTRACE_CGROUP_ROOT naming a directory without one): netfilter serves with the reason said, probe says missing, and the limit holds a sender in another namespace', async (t) => {
    const nfLinks = (): string | null => (/ bpf_nf_link_attach$/m.test(readFileSync('/proc/kallsyms', 'utf8')) ? null : 'needs BPF netfilter links (kernel 6.4+)');
    if (!requireKernel(t, () => hostPids() ?? nfLinks())) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const empty = join(dir, 'cgroup');
    mkdirSync(empty); // an empty /sys/fs/cgroup, as a cgroup-v1-only host's container sees it
    const env = { XTRACE_CGROUP_ROOT: empty };
    const probe = spawnSync(process.execPath, [CLI, 'probe', '-m', 'limit', '-o', 'json'], { encoding: 'utf8', env: { ...process.env, ...env } });
    const rows = probe.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Rec);
    const cg = rows.find((r) => r.feature === 'cgroup v2');
    assert.deepEqual([cg?.status, cg?.detail], ['missing', `XTRACE_CGROUP_ROOT=${empty} holds no cgroup v2 hierarchy (no cgroup.controllers there)`], probe.stdout);
    const go = join(dir, 'go');
    const m = await meter(p, 5312, 2500, 5000);
    t.after(() => void m.proc.kill());
    const sender = new Peer(p.nsA, ['tcp-blast', p.ipB, 5312, 120_000, go]);
    t.after(() => sender.kill());
    await sender.printed('connected');
    const x = new XtraceProcess(['limit', '-p', String(sender.pid), '-r', '2M', '-o', 'json'], { env });
    t.after(() => x.kill());
    await x.ready();
    assert.match(x.stderr, new RegExp(`warn: cgroup_skb refused \\(XTRACE_CGROUP_ROOT=${empty.replace(/[.]/g, '\\.')} holds no cgroup v2 hierarchy \\(no cgroup.controllers there\\)\\); fell back to netfilter`));
    writeFileSync(go, '');
    assertNear(await m.rate(), TARGET, 0.1, "limited at netfilter in the sender's namespace");
    assert.equal((await x.stop('SIGINT')).code, 0);
  });

  test("-p from a PID namespace of its own (a container without --pid=host): refused with one line, exit 4, nothing attached", (t) => {
    if (!requireKernel(t, () => (spawnSync('unshare', ['--version']).status === 0 ? null : 'needs unshare (util-linux)'))) return;
    const links = (): number => (JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }) || '[]') as unknown[]).length;
    const before = links();
    // in the new namespace the CLI is PID 1 (-p 1: itself); the kernel knows it by another PID
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, CLI, 'limit', '-p', '1', '-r', '1M'], {
      encoding: 'utf8',
      env: { ...process.env, XTRACE_LOG_FORMAT: 'text' },
      timeout: 30_000 * SLOWDOWN,
    });
    assert.equal(r.status, 4, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^xtrace: -p\/--pid: xtrace runs in a PID namespace of its own \(a container without --pid=host, a pod without hostPID: true\), and the kernel's hooks see the host's PIDs, so -p 1 would limit nothing; run it in the host's PID namespace, or limit --cgroup or --container$/);
    assert.equal(links(), before, 'no link left');
  });

  test('bad input: one line naming the flag, exit 2, nothing attached', (t) => {
    if (!requireKernel(t, needCgroup2)) return;
    const links = (): number => (JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }) || '[]') as unknown[]).length;
    const before = links();
    const me = String(process.pid);
    const cases: Array<[string[], RegExp]> = [
      [['-p', '4194303', '-r', '1M'], /^xtrace: -p\/--pid: no process 4194303 \(expected the PID of a running process\)$/],
      [['-p', 'abc', '-r', '1M'], /^xtrace: -p\/--pid: expected process IDs/],
      [['-p', me, '-r', '0'], /^xtrace: -r\/--rate: expected a rate above zero in bytes per second: 100K, 1M/],
      [['-p', me, '-r', 'fast'], /^xtrace: -r\/--rate: expected a rate above zero/],
      [['-p', me], /^xtrace: -r\/--rate: required/],
      [['-p', me, '-r', '1M', '-d', 'sideways'], /^xtrace: -d\/--direction: expected egress\|ingress, got 'sideways'$/],
      [['--cgroup', '/tmp', '-r', '1M'], /^xtrace: --cgroup: expected a cgroup v2 directory .*got '\/tmp'$/],
      [['-r', '1M'], /^xtrace: limit: expected what to limit: -p PID/],
      [['-p', me, '--cgroup', cgroup2Root()!, '-r', '1M'], /^xtrace: limit: -p\/--pid and --cgroup cannot be combined/],
      [['--cgroup', cgroup2Root()!, '--children', '-r', '1M'], /^xtrace: --children: only with -p\/--pid$/],
      [['-p', me, '-r', '1M', '-t', '0'], /^xtrace: -t\/--timescale: expected seconds from 0.001 to 3600/],
    ];
    for (const [args, re] of cases) {
      const r = spawnSync(process.execPath, [CLI, 'limit', ...args], { encoding: 'utf8', env: { ...process.env, XTRACE_LOG_FORMAT: 'text' } });
      assert.equal(r.status, 2, `${args.join(' ')}: exit 2 (${r.stderr})`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${args.join(' ')}: one line: ${r.stderr}`);
      assert.match(lines[0]!, re);
    }
    assert.equal(links(), before, 'no link left');
  });
});
