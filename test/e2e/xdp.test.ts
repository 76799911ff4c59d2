/** The xdp mode end to end: the real CLI in a namespace, known traffic from the peer, exact counts. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ReadyInfo, type Rec, XtraceProcess, finalFlows } from '../lib/cli.js';
import { hasCommand, requireKernel } from '../lib/env.js';
import { type Hooks, attachedHooks, bpftoolHas, kernelHasTcx, tcKind } from '../lib/hooks.js';
import { NetnsPair } from '../lib/netns.js';
import { bth, echoing, ethHeader, ipv4Header, rawFrames, server, traffic, udpHeader } from '../lib/peer.js';

const ETH = 14;
const IP4 = 20;
const IP6 = 40;
const UDP = 8;

/** Runs body with a fresh pair and an xtrace in A; everything is removed whatever happens. */
async function withXtrace(
  pairOpts: ConstructorParameters<typeof NetnsPair>[0],
  args: (p: NetnsPair) => string[],
  body: (p: NetnsPair, x: XtraceProcess) => Promise<void>,
): Promise<void> {
  const p = new NetnsPair(pairOpts);
  let x: XtraceProcess | null = null;
  try {
    x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--top', '0', '--interval', '60000', '--ingress-hook', 'xdp', ...args(p)], { ns: p.nsA });
    await x.ready();
    await body(p, x);
  } finally {
    await x?.kill();
    p.destroy();
  }
}

async function stopOk(x: XtraceProcess): Promise<Rec[]> {
  const r = await x.stop('SIGTERM');
  assert.equal(r.code, 0, `xtrace exit ${r.code}: ${r.stderr}`);
  assert.ok(r.records.some((x) => x.type === 'summary'), 'a summary at exit');
  return r.records;
}

const summaryOf = (rs: Rec[]): Rec => rs.find((r) => r.type === 'summary')!;

/**
 * Whether the kernel still has a link or program with this id, from bpftool's full listing (bpftool 7.5
 * prints `link show id N` of an XDP link and then exits 255, so its exit status cannot be the test).
 */
const flow = (rs: Rec[], key: string): Rec | undefined => finalFlows(rs).get(key);

describe('xdp mode (real kernel, network namespaces)', { concurrency: false }, () => {
  test('UDP over IPv4: exact packets and bytes both ways, watched IP in/out', async (t) => {
    if (!requireKernel(t)) return;
    const N = 1000;
    const SIZE = 100;
    await withXtrace({}, (p) => ['--watch-ip', p.ipA], async (p, x) => {
      await echoing(p.nsA, p.ipA, [9000], () => assert.equal(traffic(p.nsB, 'udp-send', p.ipA, 9000, N, SIZE, 40000), String(N)));
      const rs = await stopOk(x);
      const frame = ETH + IP4 + UDP + SIZE;
      const inn = flow(rs, `${p.ifA} ingress udp ${p.ipB}:40000>${p.ipA}:9000`);
      const out = flow(rs, `${p.ifA} egress udp ${p.ipA}:9000>${p.ipB}:40000`);
      assert.equal(inn?.packets, N);
      assert.equal(inn?.bytes, N * frame);
      assert.equal(out?.packets, N);
      assert.equal(out?.bytes, N * frame);
      const ip = rs.filter((r) => r.type === 'ip').at(-1)!;
      assert.deepEqual(
        { ip: ip.ip, in_packets: ip.in_packets, in_bytes: ip.in_bytes, out_packets: ip.out_packets, out_bytes: ip.out_bytes },
        { ip: p.ipA, in_packets: N, in_bytes: N * frame, out_packets: N, out_bytes: N * frame },
      );
    });
  });

  test('UDP over IPv6: exact packets and bytes both ways, watched /64 in/out', async (t) => {
    if (!requireKernel(t)) return;
    const N = 500;
    const SIZE = 200;
    await withXtrace({ ipv6: true }, () => ['--watch-ip', 'fd00:78::/64'], async (p, x) => {
      await echoing(p.nsA, p.ip6A, [9001], () => assert.equal(traffic(p.nsB, 'udp-send', p.ip6A, 9001, N, SIZE, 40001), String(N)));
      const rs = await stopOk(x);
      const frame = ETH + IP6 + UDP + SIZE;
      assert.equal(flow(rs, `${p.ifA} ingress udp ${p.ip6B}:40001>${p.ip6A}:9001`)?.packets, N);
      assert.equal(flow(rs, `${p.ifA} ingress udp ${p.ip6B}:40001>${p.ip6A}:9001`)?.bytes, N * frame);
      assert.equal(flow(rs, `${p.ifA} egress udp ${p.ip6A}:9001>${p.ip6B}:40001`)?.packets, N);
      assert.equal(flow(rs, `${p.ifA} egress udp ${p.ip6A}:9001>${p.ip6B}:40001`)?.bytes, N * frame);
      // The /64 holds both ends; ND is off (static neighbours), so every packet on the link is ours.
      const net = rs.filter((r) => r.type === 'ip' && r.ip === 'fd00:78::/64').at(-1)!;
      assert.deepEqual([net.in_packets, net.in_bytes, net.out_packets, net.out_bytes], [2 * N, 2 * N * frame, 2 * N, 2 * N * frame]);
    });
  });

  for (const hook of ['xdp', 'tc'] as const)
    test(`TCP transfer, ${hook} ingress: per-flow segments equal the peer's nstat, totals its ip -s link`, async (t) => {
      if (!requireKernel(t, () => (hasCommand('nstat') ? null : 'needs nstat (iproute2)'))) return;
      const BYTES = 8 * 1024 * 1024;
      await withXtrace({}, () => ['--ingress-hook', hook], async (p, x) => {
        const SNMP = ['TcpOutSegs', 'TcpInSegs', 'TcpRetransSegs'];
        const link0 = p.linkStats(p.nsB, p.ifB);
        const linkA0 = p.linkStats(p.nsA, p.ifA);
        const snmp0 = p.nstat(p.nsB, ...SNMP);
        const snmpA0 = p.nstat(p.nsA, ...SNMP);
        const sink = await server(p.nsA, 'tcp-sink', p.ipA, 9100);
        assert.equal(traffic(p.nsB, 'tcp-send', p.ipA, 9100, BYTES), String(BYTES));
        assert.equal(await sink.output(), String(BYTES));
        await new Promise((r) => setTimeout(r, 300)); // the last ACK / FIN exchange
        const link1 = p.linkStats(p.nsB, p.ifB);
        const linkA1 = p.linkStats(p.nsA, p.ifA);
        const snmp1 = p.nstat(p.nsB, ...SNMP);
        const snmpA1 = p.nstat(p.nsA, ...SNMP);
        const rs = await stopOk(x);
        assert.deepEqual(summaryOf(rs).attached, [`${p.ifA}:${hook === 'xdp' ? 'xdp/native' : tcKind('ingress')}`, `${p.ifA}:${tcKind('egress')}`]);
        // What crossed the wire: every segment TCP sent, retransmissions included (TcpOutSegs leaves them
        // out), less what the veth dropped before A's ingress hook (B's tx_dropped, A's rx_dropped).
        const d = (a: Record<string, number>, b: Record<string, number>, k: string): number => b[k]! - a[k]!;
        const droppedBeforeHook = link1.tx_dropped - link0.tx_dropped + (linkA1.rx_dropped - linkA0.rx_dropped);
        const wireIn = d(snmp0, snmp1, 'TcpOutSegs') + d(snmp0, snmp1, 'TcpRetransSegs') - droppedBeforeHook;
        const wireOut = d(snmpA0, snmpA1, 'TcpOutSegs') + d(snmpA0, snmpA1, 'TcpRetransSegs');
        const why = `B: OutSegs +${d(snmp0, snmp1, 'TcpOutSegs')}, RetransSegs +${d(snmp0, snmp1, 'TcpRetransSegs')}, dropped before A's hook ${droppedBeforeHook}; A: OutSegs +${d(snmpA0, snmpA1, 'TcpOutSegs')}, RetransSegs +${d(snmpA0, snmpA1, 'TcpRetransSegs')}`;
        const fl = [...finalFlows(rs).values()].filter((f) => f.proto === 'tcp');
        const inn = fl.find((f) => f.dir === 'ingress' && f.dport === 9100)!;
        const out = fl.find((f) => f.dir === 'egress' && f.sport === 9100)!;
        assert.equal(inn.packets, wireIn, `segments B put on the wire = ingress flow packets (${why})`);
        assert.deepEqual([inn.tcp_flags, out.tcp_flags], ['FIN|SYN|PSH|ACK', 'FIN|SYN|ACK'], 'flags seen over the connection');
        assert.ok(Date.parse(inn.first_seen as string) <= Date.parse(inn.last_seen as string));
        assert.ok(Math.abs(Date.parse(inn.last_seen as string) - Date.now()) < 60_000, 'kernel time turned into the time of day');
        assert.equal(out.packets, wireOut, `segments A sent = egress flow packets (${why})`);
        const s = summaryOf(rs);
        assert.equal(s.rx_packets, wireIn, 'the link carried only this connection');
        assert.equal(s.tx_packets, wireOut, 'the link carried only this connection');
        // Byte totals against the veths' own counters, which count the frames they delivered: exact
        // when neither veth dropped a frame (a dropped frame's bytes are not known here).
        const droppedOut = linkA1.tx_dropped - linkA0.tx_dropped + (link1.rx_dropped - link0.rx_dropped);
        const skbs = link1.tx_packets - link0.tx_packets;
        const skbBytes = link1.tx_bytes - link0.tx_bytes;
        if (droppedBeforeHook === 0) {
          if (hook === 'xdp') {
            // Native XDP on veth turns off the peer's GSO: one skb per segment.
            assert.equal(skbs, wireIn);
            // veth counts frames it delivers through its XDP/NAPI path after eth_type_trans() pulled the
            // 14-byte Ethernet header (drivers/net/veth.c, veth_xdp_rcv); xtrace counts the whole L2 frame.
            assert.equal(s.rx_bytes, skbBytes + ETH * skbs);
          } else {
            // TC sees the peer's GSO packets (fewer skbs than segments) and counts gso_segs wire frames,
            // each repeating Ethernet + IPv4 + TCP with timestamps (14 + 20 + 32 bytes).
            assert.ok(skbs < wireIn, `GSO in use (${skbs} skbs for ${wireIn} segments)`);
            assert.equal(s.rx_bytes, skbBytes + (wireIn - skbs) * (ETH + IP4 + 32));
          }
        }
        if (droppedOut === 0) assert.equal(s.tx_bytes, link1.rx_bytes - link0.rx_bytes);
      });
    });

  test('ICMP echo in generic XDP mode; the same counts over --metrics-listen', async (t) => {
    if (!requireKernel(t)) return;
    await withXtrace({}, (p) => ['--xdp-mode', 'generic', '--metrics-listen', '127.0.0.1:0', '--interval', '200', '--watch-ip', p.ipA], async (p, x) => {
      p.exec(p.nsB, 'ping', '-c', '5', '-i', '0.05', '-s', '56', '-q', p.ipA);
      await x.waitFor((r) => r.type === 'ip' && r.in_packets === 5 && r.out_packets === 5);
      await new Promise((r) => setTimeout(r, 300));
      const script = `fetch(${JSON.stringify(x.metricsUrl())}).then((r) => r.text()).then((t) => process.stdout.write(t))`;
      const metrics = p.exec(p.nsA, process.execPath, '-e', script).split('\n');
      assert.ok(metrics.includes(`xtrace_ip_packets_total{ip="${p.ipA}",direction="in"} 5`), metrics.join('\n'));
      assert.ok(metrics.includes(`xtrace_flow_packets_total{iface="${p.ifA}",direction="in",proto="icmp",src="${p.ipB}",sport="0",dst="${p.ipA}",dport="0"} 5`), metrics.join('\n'));
      // totals carry the interface and the one direction label; truncated and fragments are exported
      // the pair has static neighbours and no IPv6: the link carries the echoes alone
      const frame = ETH + IP4 + 8 + 56;
      assert.ok(metrics.includes(`xtrace_packets_total{iface="${p.ifA}",direction="in"} 5`), metrics.join('\n'));
      assert.ok(metrics.includes(`xtrace_bytes_total{iface="${p.ifA}",direction="out"} ${5 * frame}`), metrics.join('\n'));
      assert.ok(metrics.includes(`xtrace_truncated_packets_total{iface="${p.ifA}"} 0`));
      assert.ok(metrics.includes(`xtrace_fragments_total{iface="${p.ifA}"} 0`));
      const rs = await stopOk(x);
      const sum = summaryOf(rs);
      assert.deepEqual(sum.attached, [`${p.ifA}:xdp/generic`, `${p.ifA}:${tcKind('egress')}`]);
      assert.deepEqual(sum.vanished, []);
      const mine = (sum.ifaces as Record<string, Record<string, number>>)[p.ifA]!;
      assert.deepEqual([mine.rx_packets, mine.tx_bytes], [sum.rx_packets, sum.tx_bytes]);
      // echo requests in (type 8), replies out (type 0): type and code in the flow key and record
      const req = flow(rs, `${p.ifA} ingress icmp/8 ${p.ipB}:0>${p.ipA}:0`);
      assert.deepEqual([req?.packets, req?.bytes, req?.icmp_type, req?.icmp_code], [5, 5 * frame, 8, 0]);
      const rep = flow(rs, `${p.ifA} egress icmp/0 ${p.ipA}:0>${p.ipB}:0`);
      assert.deepEqual([rep?.packets, rep?.icmp_type, rep?.icmp_code], [5, 0, 0]);
    });
  });

  test('packet-log filters pass the matching packets and nothing else', async (t) => {
    if (!requireKernel(t)) return;
    // Traffic: 10 UDP B:6001->A:7001 and echoes; 7 UDP B:6002->A:7002 and echoes; 3 pings and replies.
    const cases: Array<{ args: (p: NetnsPair) => string[]; want: (p: NetnsPair) => string[] }> = [
      { args: () => [], want: (p) => all(p) },
      { args: () => ['--protocol', 'udp', '--dst-port', '7001'], want: (p) => rep(10, `udp ${p.ipB}:6001>${p.ipA}:7001`) },
      { args: () => ['--src-port', '7002'], want: (p) => rep(7, `udp ${p.ipA}:7002>${p.ipB}:6002`) },
      { args: () => ['--protocol', 'icmp'], want: (p) => [...rep(3, `icmp ${p.ipB}:0>${p.ipA}:0`), ...rep(3, `icmp ${p.ipA}:0>${p.ipB}:0`)] },
      { args: (p) => ['--src-ip', p.ipB], want: (p) => all(p).filter((k) => k.includes(` ${p.ipB}:`)) },
      { args: (p) => ['--dst-ip', `${p.ipB}/31`, '--protocol', 'udp'], want: (p) => [...rep(10, `udp ${p.ipA}:7001>${p.ipB}:6001`), ...rep(7, `udp ${p.ipA}:7002>${p.ipB}:6002`)] },
      { args: () => ['--protocol', 'tcp,roce'], want: () => [] },
    ];
    const rep = (n: number, k: string): string[] => Array<string>(n).fill(k);
    const all = (p: NetnsPair): string[] => [
      ...rep(10, `udp ${p.ipB}:6001>${p.ipA}:7001`), ...rep(10, `udp ${p.ipA}:7001>${p.ipB}:6001`),
      ...rep(7, `udp ${p.ipB}:6002>${p.ipA}:7002`), ...rep(7, `udp ${p.ipA}:7002>${p.ipB}:6002`),
      ...rep(3, `icmp ${p.ipB}:0>${p.ipA}:0`), ...rep(3, `icmp ${p.ipA}:0>${p.ipB}:0`),
    ];
    const p = new NetnsPair();
    t.after(() => p.destroy());
    try {
      for (const c of cases) {
        const x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '-p', '--interval', '60000', ...c.args(p)], { ns: p.nsA });
        t.after(() => x.kill());
        try {
          await x.ready();
          await echoing(p.nsA, p.ipA, [7001, 7002], () => {
            traffic(p.nsB, 'udp-send', p.ipA, 7001, 10, 32, 6001);
            traffic(p.nsB, 'udp-send', p.ipA, 7002, 7, 32, 6002);
            p.exec(p.nsB, 'ping', '-c', '3', '-i', '0.05', '-q', p.ipA);
          });
          const rs = await stopOk(x);
          const got = rs.filter((r) => r.type === 'packet').map((r) => `${r.proto} ${r.src}:${r.sport}>${r.dst}:${r.dport}`).sort();
          assert.deepEqual(got, c.want(p).sort(), `filter ${c.args(p).join(' ') || '(none)'}`);
          assert.equal(summaryOf(rs).events_sent, got.length);
        } finally {
          await x.kill();
        }
      }
    } finally {
      p.destroy();
    }
  });

  test('--protocol icmp and icmpv6 each mean themselves; records carry the ICMP type and code', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair({ ipv6: true });
    t.after(() => p.destroy());
    try {
      for (const proto of ['icmp', 'icmpv6'] as const) {
        const x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '-p', '--interval', '60000', '--protocol', proto], { ns: p.nsA });
        t.after(() => x.kill());
        try {
          await x.ready();
          p.exec(p.nsB, 'ping', '-c', '3', '-i', '0.05', '-q', p.ipA);
          p.exec(p.nsB, 'ping', '-6', '-c', '3', '-i', '0.05', '-q', p.ip6A);
          const rs = await stopOk(x);
          const pk = rs.filter((r) => r.type === 'packet');
          assert.deepEqual([...new Set(pk.map((r) => r.proto))], [proto], `--protocol ${proto} logs ${proto} only`);
          const types = pk.map((r) => `${r.dir} ${r.icmp_type}/${r.icmp_code}`);
          const count = (k: string): number => types.filter((x) => x === k).length;
          const [req, rep] = proto === 'icmp' ? ['8/0', '0/0'] : ['128/0', '129/0'];
          assert.deepEqual([count(`ingress ${req}`), count(`egress ${rep}`)], [3, 3], types.join(', '));
          // besides the echoes, ICMPv6 carries neighbour discovery (133-137) and MLD reports (143), nothing else
          const other = types.filter((k) => !k.endsWith(` ${req}`) && !k.endsWith(` ${rep}`));
          if (proto === 'icmp') assert.deepEqual(other, []);
          else for (const k of other) assert.ok([133, 134, 135, 136, 137, 143].includes(Number(k.split(' ')[1]!.split('/')[0])), k);
        } finally {
          await x.kill();
        }
      }
    } finally {
      p.destroy();
    }
  });

  test('rate limit suppresses in the kernel and counts what it suppressed', async (t) => {
    if (!requireKernel(t)) return;
    const N = 3000;
    const LIMIT = 100;
    await withXtrace({}, () => ['-p', '--protocol', 'udp', '--dst-port', '7009', '--rate-limit', String(LIMIT)], async (p, x) => {
      const t0 = Date.now();
      assert.equal(traffic(p.nsB, 'udp-blast', p.ipA, 7009, N, 16, 6009), String(N));
      const secs = (Date.now() - t0) / 1000;
      const rs = await stopOk(x);
      const s = summaryOf(rs);
      const logged = rs.filter((r) => r.type === 'packet').length;
      assert.equal(logged, s.events_sent, 'every event the kernel sent was read');
      assert.equal((s.events_sent as number) + (s.events_suppressed as number) + (s.events_lost as number), N);
      assert.ok((s.events_sent as number) >= LIMIT, 'the one-second burst passes');
      assert.ok((s.events_sent as number) <= LIMIT * (secs + 1) + 1, `at most ${LIMIT}/s after the burst (${s.events_sent} in ${secs}s)`);
      assert.ok((s.events_suppressed as number) > 0);
    });
  });

  test('RoCE v2 and v1 frames are classified with opcode and QP', async (t) => {
    if (!requireKernel(t, () => (hasCommand('python3') ? null : 'needs python3 (raw frames)'))) return;
    await withXtrace({}, () => ['-p', '--protocol', 'roce'], async (p, x) => {
      const payload = Buffer.concat([bth(0x0a, 0x00abcd), Buffer.alloc(16 + 64), Buffer.alloc(4)]); // RETH + data + ICRC
      const v2 = Buffer.concat([ethHeader(p.macA, p.macB, 0x0800), ipv4Header(p.ipB, p.ipA, 17, UDP + payload.length), udpHeader(49152, 4791, payload.length), payload]);
      const grh = Buffer.alloc(40);
      grh[0] = 0x60;
      grh.writeUInt16BE(12 + 4, 4);
      grh[6] = 0x1b;
      grh[7] = 64;
      Buffer.from('fe800000000000000000000000000001', 'hex').copy(grh, 8);
      Buffer.from('fe800000000000000000000000000002', 'hex').copy(grh, 24);
      const v1 = Buffer.concat([ethHeader(p.macA, p.macB, 0x8915), grh, bth(0x81, 0x000012), Buffer.alloc(16), Buffer.alloc(4)]);
      rawFrames(p.nsB, p.ifB, v2, 5);
      rawFrames(p.nsB, p.ifB, v1, 3);
      const rs = await stopOk(x);
      const pk = rs.filter((r) => r.type === 'packet');
      const v2s = pk.filter((r) => r.proto === 'roce_v2');
      assert.equal(v2s.length, 5);
      assert.deepEqual([v2s[0]!.roce_opcode, v2s[0]!.roce_qp, v2s[0]!.dport, v2s[0]!.len], ['RC_RDMA_WRITE_ONLY', 0xabcd, 4791, v2.length]);
      const v1s = pk.filter((r) => r.proto === 'roce_v1');
      assert.equal(v1s.length, 3);
      assert.deepEqual([v1s[0]!.roce_opcode, v1s[0]!.roce_qp, v1s[0]!.src, v1s[0]!.dst], ['CNP', 0x12, 'fe80::1', 'fe80::2']);
      assert.equal(pk.length, 8, 'nothing but RoCE passes --protocol roce');
      assert.equal(flow(rs, `${p.ifA} ingress roce_v2 ${p.ipB}:49152>${p.ipA}:4791`)?.packets, 5);
      assert.equal(flow(rs, `${p.ifA} ingress roce_v1 fe80::1:0>fe80::2:0`)?.bytes, 3 * v1.length);
    });
  });

  test('VLAN tags, IPv4 options, fragments and IPv6 extension headers are parsed', async (t) => {
    if (!requireKernel(t, () => (hasCommand('python3') ? null : 'needs python3 (raw frames)'))) return;
    await withXtrace({}, () => [], async (p, x) => {
      const udp = (sport: number, ip: Buffer, body = Buffer.alloc(10)): Buffer => Buffer.concat([ip, udpHeader(sport, 5000, body.length), body]);
      const ip4 = (opts?: Parameters<typeof ipv4Header>[4]): Buffer => ipv4Header(p.ipB, p.ipA, 17, UDP + 10, opts);
      const frames: Array<[Buffer, number]> = [
        [Buffer.concat([ethHeader(p.macA, p.macB, 0x8100), Buffer.from([0x00, 0x64, 0x08, 0x00]), udp(1001, ip4())]), 4],
        [Buffer.concat([ethHeader(p.macA, p.macB, 0x88a8), Buffer.from([0x00, 0x0a, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00]), udp(1002, ip4())]), 3],
        [Buffer.concat([ethHeader(p.macA, p.macB, 0x0800), udp(1003, ip4({ ihlWords: 7 }))]), 2],
        [Buffer.concat([ethHeader(p.macA, p.macB, 0x0800), ipv4Header(p.ipB, p.ipA, 17, 16, { fragOffset8: 3 }), Buffer.alloc(16)]), 6],
      ];
      // IPv6: hop-by-hop (8 bytes) then a first fragment header, then UDP.
      const v6 = Buffer.alloc(40);
      v6[0] = 0x60;
      v6.writeUInt16BE(8 + 8 + UDP + 10, 4);
      v6[6] = 0; // hop-by-hop
      v6[7] = 64;
      Buffer.from('fd000078000000000000000000000002', 'hex').copy(v6, 8);
      Buffer.from('fd000078000000000000000000000001', 'hex').copy(v6, 24);
      const hbh = Buffer.from([44, 0, 1, 4, 0, 0, 0, 0]);
      const frag = Buffer.from([17, 0, 0, 1, 0, 0, 0, 7]); // offset 0, M=1
      frames.push([Buffer.concat([ethHeader(p.macA, p.macB, 0x86dd), v6, hbh, frag, udpHeader(1004, 5000, 10), Buffer.alloc(10)]), 5]);
      for (const [f, n] of frames) rawFrames(p.nsB, p.ifB, f, n);
      const rs = await stopOk(x);
      const fl = finalFlows(rs);
      assert.equal(fl.get(`${p.ifA} ingress udp ${p.ipB}:1001>${p.ipA}:5000`)?.packets, 4, '802.1Q');
      assert.equal(fl.get(`${p.ifA} ingress udp ${p.ipB}:1002>${p.ipA}:5000`)?.packets, 3, '802.1ad + 802.1Q');
      assert.equal(fl.get(`${p.ifA} ingress udp ${p.ipB}:1003>${p.ipA}:5000`)?.packets, 2, 'IPv4 options');
      assert.equal(fl.get(`${p.ifA} ingress udp ${p.ipB}:0>${p.ipA}:0`)?.packets, 6, 'non-first fragments: counted, no ports');
      assert.equal(fl.get(`${p.ifA} ingress udp fd00:78::2:1004>fd00:78::1:5000`)?.packets, 5, 'IPv6 hop-by-hop + fragment');
      assert.equal(summaryOf(rs).fragments, 6);
    });
  });

  test('two interfaces at once', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    try {
      const l2 = p.addLink();
      x = new XtraceProcess(['xdp', '-i', `${p.ifA},${l2.ifA}`, '-o', 'json', '--top', '0', '--interval', '60000'], { ns: p.nsA });
      await x.ready();
      p.exec(p.nsB, 'ping', '-c', '2', '-i', '0.05', '-q', p.ipA);
      p.exec(p.nsB, 'ping', '-c', '4', '-i', '0.05', '-q', l2.ipA);
      const rs = await stopOk(x);
      assert.equal((summaryOf(rs).attached as string[]).length, 4);
      assert.equal(flow(rs, `${p.ifA} ingress icmp/8 ${p.ipB}:0>${p.ipA}:0`)?.packets, 2);
      assert.equal(flow(rs, `${l2.ifA} ingress icmp/8 ${l2.ipB}:0>${l2.ipA}:0`)?.packets, 4);
      assert.equal(flow(rs, `${l2.ifA} egress icmp/0 ${l2.ipA}:0>${l2.ipB}:0`)?.packets, 4);
    } finally {
      await x?.kill();
      p.destroy();
    }
  });

  test('SIGKILL leaves no XDP or TC program on the interfaces', async (t) => {
    // a classic clsact filter (kernels before 6.6) outlives a SIGKILLed xtrace, as the log warns
    if (!requireKernel(t, () => (kernelHasTcx() ? null : 'needs tcx links (6.6+): a classic TC filter outlives SIGKILL'))) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    let x: XtraceProcess | null = null;
    const mine: ReadyInfo['links'] = [];
    // ip link and tc speak for the kernel independently of xtrace; tcx links only xtrace's query shows
    const hooks = (ifn: string): { xdpInIpLink: boolean; tcFilters: string } & Hooks => {
      const link = JSON.parse(p.exec(p.nsA, 'ip', '-j', '-d', 'link', 'show', 'dev', ifn)) as Array<{ xdp?: unknown }>;
      const tc = p.exec(p.nsA, 'tc', 'filter', 'show', 'dev', ifn, 'egress') + p.exec(p.nsA, 'tc', 'filter', 'show', 'dev', ifn, 'ingress');
      return { xdpInIpLink: link[0]!.xdp !== undefined, tcFilters: tc.trim(), ...attachedHooks(ifn, p.nsA) };
    };
    try {
      const l2 = p.addLink();
      // XDP ingress on the first interface, TC ingress on the second, TC egress on both.
      x = new XtraceProcess(['xdp', '-i', p.ifA, '-o', 'json', '--ingress-hook', 'xdp'], { ns: p.nsA });
      const rx = await x.ready();
      const y = new XtraceProcess(['xdp', '-i', l2.ifA, '-o', 'json', '--ingress-hook', 'tc'], { ns: p.nsA });
      t.after(() => y.kill());
      try {
        const ry = await y.ready();
        // This run's own links and programs, by the kernel's ids (not every xt_ program on the machine).
        mine.push(...rx.links, ...ry.links);
        assert.deepEqual(mine.map((l) => `${l.target} ${l.kind}`), [`${p.ifA} xdp/native`, `${p.ifA} tcx/egress`, `${l2.ifA} tcx/ingress`, `${l2.ifA} tcx/egress`]);
        for (const l of mine) assert.ok(l.link_id > 0 && l.prog_id > 0 && bpftoolHas('link', l.link_id) && bpftoolHas('prog', l.prog_id), `${l.kind} is live`);
        assert.deepEqual(hooks(p.ifA), { xdpInIpLink: true, tcFilters: '', xdp: 'native', tcx: 1, tc: 0 }, 'attached while running');
        assert.deepEqual(hooks(l2.ifA), { xdpInIpLink: false, tcFilters: '', xdp: 'none', tcx: 2, tc: 0 }, 'attached while running');
        assert.equal((await y.stop('SIGKILL')).signal, 'SIGKILL');
      } finally {
        await y.kill();
      }
      assert.equal((await x.stop('SIGKILL')).signal, 'SIGKILL');
      const none = { xdpInIpLink: false, tcFilters: '', xdp: 'none', tcx: 0, tc: 0 };
      let after = [hooks(p.ifA), hooks(l2.ifA)];
      for (let i = 0; i < 20 && JSON.stringify(after) !== JSON.stringify([none, none]); i++) {
        await new Promise((res) => setTimeout(res, 100));
        after = [hooks(p.ifA), hooks(l2.ifA)];
      }
      assert.deepEqual(after, [none, none]);
      for (let i = 0; i < 20 && mine.some((l) => bpftoolHas('link', l.link_id) || bpftoolHas('prog', l.prog_id)); i++) await new Promise((res) => setTimeout(res, 100));
      for (const l of mine) {
        assert.ok(!bpftoolHas('link', l.link_id), `link ${l.link_id} (${l.target} ${l.kind}) is gone`);
        assert.ok(!bpftoolHas('prog', l.prog_id), `program ${l.prog_id} (${l.target} ${l.kind}) is freed`);
      }
    } finally {
      await x?.kill();
      p.destroy();
    }
  });
});
