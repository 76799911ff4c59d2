import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FlowRecord, IpRecord, PacketRecord, SummaryRecord } from '../../src/records/index.js';
import { roceOpcodeName, tcpFlagNames } from '../../src/records/index.js';
import { humanBits, humanBytes } from '../../src/output/human.js';
import { flowTable, ipBlock, makeSink, packetJson, packetLine } from '../../src/output/xdp.js';

const pkt = (o: Partial<PacketRecord>): PacketRecord => ({
  type: 'packet', ts: '2026-01-01T12:34:56.789Z', iface: 'eth0', dir: 'ingress', proto: 'tcp', src: '192.168.1.100', sport: 54321,
  dst: '93.184.216.34', dport: 443, len: 1248, segs: 1, ...o,
});
const flowRec: FlowRecord = {
  type: 'flow', ts: '2026-01-01T00:00:00.000Z', iface: 'eth0', dir: 'egress', proto: 'udp', src: '10.0.0.1', sport: 53, dst: '2001:db8::1',
  dport: 5353, packets: 3, bytes: 2048, pps_rate: 1.5, bps_rate: 12_345_678, first_seen: '2026-01-01T00:00:00.000Z', last_seen: '2026-01-01T00:00:01.000Z',
};

describe('renderers', () => {
  test('packetJson writes what JSON.stringify writes, for every optional field and awkward strings', () => {
    // fields in the order the xdp mode builds a packet record
    const rec = (o: { vlan?: number; icmp?: [number, number]; tcp?: string; roce?: [string, number]; iface?: string; proto?: PacketRecord['proto'] }): PacketRecord => {
      const p: PacketRecord = {
        type: 'packet', ts: '2026-01-01T12:34:56.789Z', iface: o.iface ?? 'eth0', dir: 'egress', proto: o.proto ?? 'tcp', src: 'fd00:78::1', sport: 0,
        dst: '10.0.0.2', dport: 65535, ...(o.vlan ? { vlan: o.vlan } : {}), ...(o.icmp ? { icmp_type: o.icmp[0], icmp_code: o.icmp[1] } : {}), len: 9018, segs: 45,
      };
      if (o.tcp !== undefined) p.tcp_flags = o.tcp;
      if (o.roce) [p.roce_opcode, p.roce_qp] = o.roce;
      return p;
    };
    const cases = [
      rec({}),
      rec({ tcp: '' }),
      rec({ tcp: 'SYN|ACK', vlan: 4094 }),
      rec({ proto: 'icmp', icmp: [8, 0] }),
      rec({ proto: 'roce_v2', roce: ['RC_SEND_ONLY', 0xabcdef], vlan: 7 }),
      rec({ iface: 'we"ird\\if\u0001' }),
      rec({ iface: 'eth0.100€' }),
      rec({ proto: 47 }),
    ];
    for (const p of cases) {
      assert.equal(packetJson(p), JSON.stringify(p));
      assert.deepEqual(JSON.parse(packetJson(p)), p);
    }
  });

  test('the watched-IP block users already read', () => {
    const r: IpRecord = { type: 'ip', ts: '', ip: '192.168.1.100', in_packets: 1247, in_bytes: 89432, out_packets: 1156, out_bytes: 156789 };
    assert.equal(
      ipBlock(r),
      [
        '=== traffic for 192.168.1.100 ===',
        'in:    1247 packets, 89432 bytes (87.34 KiB)',
        'out:   1156 packets, 156789 bytes (153.11 KiB)',
        'total: 2403 packets, 246221 bytes (240.45 KiB)',
      ].join('\n'),
    );
    const one: IpRecord = { type: 'ip', ts: '', ip: '10.0.0.1', in_packets: 1, in_bytes: 1, out_packets: 0, out_bytes: 0 };
    assert.match(ipBlock(one), /^in: {4}1 packet, 1 byte \(1 B\)$/m);
  });

  test('packet lines: time, interface and direction first, as tcpdump users read them', () => {
    assert.equal(packetLine(pkt({ tcp_flags: 'SYN|ACK' })), '12:34:56.789 eth0 in TCP 192.168.1.100:54321 -> 93.184.216.34:443 [SYN|ACK] (1248b)');
    assert.equal(packetLine(pkt({ tcp_flags: '', dir: 'egress', len: 65226, segs: 45 })), '12:34:56.789 eth0 out TCP 192.168.1.100:54321 -> 93.184.216.34:443 [.] (65226b, 45 segs)');
    assert.equal(
      packetLine(pkt({ proto: 'udp', src: '2001:db8::1', sport: 5353, dst: 'ff02::fb', dport: 5353, len: 90, vlan: 100 })),
      '12:34:56.789 eth0 in vlan 100 UDP [2001:db8::1]:5353 -> [ff02::fb]:5353 (90b)',
    );
    assert.equal(packetLine(pkt({ proto: 'icmp', sport: 0, dport: 0, len: 98, icmp_type: 8, icmp_code: 0 })), '12:34:56.789 eth0 in ICMP 8/0 192.168.1.100 -> 93.184.216.34 (98b)');
    assert.equal(
      packetLine(pkt({ proto: 'roce_v2', sport: 49152, dport: 4791, roce_opcode: 'RC_RDMA_WRITE_ONLY', roce_qp: 0xabcd, len: 1082 })),
      '12:34:56.789 eth0 in RoCEv2 192.168.1.100:49152 -> 93.184.216.34:4791 RC_RDMA_WRITE_ONLY qp=0x00abcd (1082b)',
    );
    assert.equal(packetLine(pkt({ proto: 47, sport: 0, dport: 0, len: 60 })), '12:34:56.789 eth0 in IP/47 192.168.1.100 -> 93.184.216.34 (60b)');
    const frame = (ethertype: string): string => packetLine(pkt({ proto: 'ether', src: '02:00:00:00:00:02', sport: 0, dst: 'ff:ff:ff:ff:ff:ff', dport: 0, len: 42, ethertype }));
    assert.equal(frame('0x0806'), '12:34:56.789 eth0 in ARP 02:00:00:00:00:02 -> ff:ff:ff:ff:ff:ff (42b)');
    assert.equal(frame('0x002e'), '12:34:56.789 eth0 in 802.3 02:00:00:00:00:02 -> ff:ff:ff:ff:ff:ff (42b)');
    assert.equal(frame('0x88b5'), '12:34:56.789 eth0 in ether 0x88b5 02:00:00:00:00:02 -> ff:ff:ff:ff:ff:ff (42b)');
  });

  test('RoCE opcodes and TCP flags by name', () => {
    assert.equal(roceOpcodeName(0x04), 'RC_SEND_ONLY');
    assert.equal(roceOpcodeName(0x64), 'UD_SEND_ONLY');
    assert.equal(roceOpcodeName(0x11), 'RC_ACKNOWLEDGE');
    assert.equal(roceOpcodeName(0x81), 'CNP');
    assert.equal(roceOpcodeName(0x1f), 'RC_OP_0x1f');
    assert.equal(tcpFlagNames(0x12), 'SYN|ACK');
    assert.equal(tcpFlagNames(0), '');
  });

  test('human units', () => {
    assert.equal(humanBytes(512), '512 B');
    assert.equal(humanBytes(1024), '1.00 KiB');
    assert.equal(humanBytes(5 * 1024 * 1024), '5.00 MiB');
    assert.equal(humanBits(999), '999 bit/s');
    assert.equal(humanBits(12_345_678), '12.35 Mbit/s');
  });

  test('flow table columns', () => {
    assert.equal(
      flowTable([flowRec]),
      ['IFACE  DIR  PROTO  SOURCE       DESTINATION         PACKETS     BYTES  PPS          RATE', 'eth0   out  UDP    10.0.0.1:53  [2001:db8::1]:5353        3  2.00 KiB  1.5  12.35 Mbit/s'].join('\n'),
    );
    // one decimal for every PPS cell; a VLAN column once a flow is tagged
    const table = flowTable([{ ...flowRec, vlan: 7, pps_rate: 0 }, { ...flowRec, proto: 'icmp', sport: 0, dport: 0, icmp_type: 8, icmp_code: 0, pps_rate: 3.4 }]).split('\n');
    assert.match(table[0]!, /^IFACE {2}DIR {2}VLAN {2}PROTO/);
    assert.match(table[1]!, /^eth0 {3}out {2}7 {5}UDP .* 0\.0 {2}/);
    assert.match(table[2]!, /^eth0 {3}out {2}- {5}ICMP 8\/0 .* 3\.4 {2}/);
    assert.equal(flowTable([]), '(no flows)');
  });

  test('json sink: one object a line, records unchanged; packet lines written together after the current turn', async () => {
    const out: string[] = [];
    const sink = makeSink('json', (s) => out.push(s));
    const summary = { type: 'summary', ts: 't', duration_s: 1, interfaces: ['eth0'], attached: [], vanished: [] } as unknown as SummaryRecord;
    sink.records([flowRec, summary]);
    sink.event(pkt({}));
    sink.event(pkt({ sport: 1 }));
    assert.equal(out.length, 1); // not yet
    await new Promise((r) => setImmediate(r));
    assert.equal(out.length, 2); // both packets in one write
    const lines = out.join('').trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.deepEqual(JSON.parse(lines[0]!), flowRec);
    assert.equal((JSON.parse(lines[2]!) as PacketRecord).type, 'packet');
  });
});
