import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeEvent } from '../../src/modes/xdp/codec.js';
import { EVENT, XT_ICMP_NONE } from '../../src/modes/xdp/layout.js';
import { parseNet } from '../../src/options/index.js';
import { makeEventJson, packetRecord } from '../../src/modes/xdp/eventjson.js';
import { packetJson } from '../../src/output/xdp.js';

const F = EVENT.fields;

interface Ev {
  ts: bigint;
  ifindex: number;
  dir: number;
  family: number;
  kind: number;
  proto: number;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  len: number;
  segs: number;
  vlan?: number;
  flags?: number;
  icmp?: [number, number];
  roce?: [number, number];
  ethertype?: number;
}

function encode(e: Ev): Buffer {
  const b = Buffer.alloc(EVENT.size);
  b.writeBigUInt64LE(e.ts, F.ts_ns);
  b.writeUInt32LE(e.ifindex, F.ifindex);
  b[F.dir] = e.dir;
  b[F.family] = e.family;
  b[F.kind] = e.kind;
  b[F.proto] = e.proto;
  const addr = (s: string): Buffer => (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(s) ? Buffer.concat([Buffer.from(s.replace(/:/g, ''), 'hex'), Buffer.alloc(10)]) : parseNet(s)!.addr);
  addr(e.src).copy(b, F.src);
  addr(e.dst).copy(b, F.dst);
  b.writeUInt16LE(e.sport ?? 0, F.sport);
  b.writeUInt16LE(e.dport ?? 0, F.dport);
  b.writeUInt32LE(e.len, F.len);
  b.writeUInt16LE(e.segs, F.segs);
  b.writeUInt16LE(e.vlan ?? 0, F.vlan);
  b[F.tcp_flags] = e.flags ?? 0;
  [b[F.icmp_type], b[F.icmp_code]] = e.icmp ?? [XT_ICMP_NONE, XT_ICMP_NONE];
  if (e.roce) {
    b[F.roce_opcode] = e.roce[0];
    b.writeUInt32LE(e.roce[1], F.roce_qp);
  }
  b.writeUInt16LE(e.ethertype ?? 0, F.ethertype);
  return b;
}

describe('-p -o json: the ring event straight to its line', () => {
  test('the same text as the decoded record through packetJson, for every kind of event', () => {
    const events: Ev[] = [
      { ts: 5_000_123_456n, ifindex: 3, dir: 0, family: 4, kind: 0, proto: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 443, len: 66, segs: 1, flags: 0x12 },
      { ts: 5_000_123_999n, ifindex: 3, dir: 1, family: 4, kind: 0, proto: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 443, len: 65226, segs: 45, flags: 0x18, vlan: 100 },
      { ts: 9_999_999_999_999n, ifindex: 7, dir: 0, family: 4, kind: 0, proto: 17, src: '192.168.255.254', dst: '0.0.0.0', sport: 53, dport: 5353, len: 120, segs: 0 },
      { ts: 1n, ifindex: 3, dir: 0, family: 4, kind: 0, proto: 1, src: '10.0.0.2', dst: '10.0.0.1', len: 98, segs: 1, icmp: [8, 0] },
      { ts: 2n, ifindex: 3, dir: 0, family: 4, kind: 0, proto: 1, src: '10.0.0.2', dst: '10.0.0.1', len: 1514, segs: 1 },
      { ts: 3n, ifindex: 4, dir: 1, family: 6, kind: 0, proto: 58, src: 'fe80::1', dst: 'ff02::1:ff00:2', len: 86, segs: 1, icmp: [135, 0] },
      { ts: 4n, ifindex: 4, dir: 1, family: 6, kind: 0, proto: 6, src: '2001:db8::5', dst: '2001:db8:0:1::6', sport: 22, dport: 50000, len: 74, segs: 1, flags: 0 },
      { ts: 5n, ifindex: 3, dir: 0, family: 4, kind: 2, proto: 17, src: '10.0.0.7', dst: '10.0.0.8', sport: 50000, dport: 4791, len: 1082, segs: 1, roce: [0x0a, 0xabcd] },
      { ts: 6n, ifindex: 3, dir: 0, family: 6, kind: 1, proto: 0, src: 'fe80::1', dst: 'fe80::2', len: 90, segs: 1, roce: [0x81, 0x12], vlan: 4095 },
      { ts: 7n, ifindex: 99, dir: 0, family: 4, kind: 0, proto: 47, src: '10.1.2.3', dst: '10.3.2.1', len: 200, segs: 1 },
      // frames that are not IP: ARP, 802.3 LLC, an IPv4 EtherType with a malformed header, behind a tag
      { ts: 8n, ifindex: 3, dir: 0, family: 0, kind: 3, proto: 0, src: '02:00:00:00:00:02', dst: 'ff:ff:ff:ff:ff:ff', len: 42, segs: 1, ethertype: 0x0806 },
      { ts: 9n, ifindex: 3, dir: 1, family: 0, kind: 3, proto: 0, src: '02:00:00:00:00:01', dst: '01:80:c2:00:00:00', len: 60, segs: 1, ethertype: 0x0026 },
      { ts: 10n, ifindex: 3, dir: 0, family: 0, kind: 3, proto: 0, src: '02:00:00:00:00:02', dst: '02:00:00:00:00:01', len: 34, segs: 1, ethertype: 0x0800, vlan: 7 },
    ];
    const names = new Map([
      [3, 'veth0'],
      [4, 'eth"0\\x'],
      [7, 'eth0.100'],
    ]);
    const ifname = (ix: number): string => names.get(ix) ?? `if${ix}`;
    const iso = (ns: number | bigint): string => `T${Math.floor(Number(ns) / 1000)}`;
    const line = makeEventJson(iso, ifname);
    for (const e of events) {
      const b = encode(e);
      const dv = new DataView(b.buffer, b.byteOffset, b.length);
      // twice: the second from what the first left cached
      for (let i = 0; i < 2; i++) {
        const d = decodeEvent(dv, 0);
        const want = packetJson(packetRecord(d, iso(d.tsNs), ifname(d.ifindex))) + '\n';
        assert.equal(line(dv, 0), want);
        assert.deepEqual(JSON.parse(line(dv, 0)), JSON.parse(JSON.stringify(packetRecord(d, iso(d.tsNs), ifname(d.ifindex)))));
      }
    }
  });

  test('many IPv4 flows, more than the tuple cache holds, interleaved: every line as the reference writes it', () => {
    const iso = (ns: number | bigint): string => `T${Number(ns)}`;
    const line = makeEventJson(iso, (ix) => `if${ix}`);
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const evs: Ev[] = Array.from({ length: 10_000 }, (_, i) => ({
      ts: BigInt(i),
      ifindex: 1 + rnd(3),
      dir: rnd(2),
      family: 4,
      kind: 0,
      proto: [6, 17, 1][rnd(3)]!,
      src: `10.${rnd(4)}.${rnd(256)}.${rnd(256)}`,
      dst: `10.9.${rnd(2)}.${rnd(256)}`,
      sport: rnd(65536),
      dport: rnd(3) + 80,
      len: 60 + rnd(1400),
      segs: 1,
      flags: rnd(256),
      icmp: [rnd(20), rnd(4)],
    }));
    const bufs = evs.map(encode);
    for (let pass = 0; pass < 3; pass++)
      for (let i = 0; i < bufs.length; i += 1 + pass) {
        const j = pass === 2 ? bufs.length - 1 - i : i;
        const dv = new DataView(bufs[j]!.buffer, bufs[j]!.byteOffset, bufs[j]!.length);
        const d = decodeEvent(dv, 0);
        assert.equal(line(dv, 0), packetJson(packetRecord(d, iso(d.tsNs), `if${d.ifindex}`)) + '\n');
      }
  });
});
