import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONFIG, EVENT, FLOW_KEY, FLOW_VAL } from '../../src/modes/xdp/layout.js';
import { decodeEvent, decodeFlowKey, encodeConfig, sumFlowValues } from '../../src/modes/xdp/codec.js';
import { parseNet } from '../../src/options/index.js';

describe('codec', () => {
  test('config: settings and interfaces at the header offsets', () => {
    const b = encodeConfig({ watchCount: 2, rateLimit: 500, log: true, ifindexes: [7, 3], filter: true, capture: true, snaplen: 128, copyBytes: 200 });
    const f = CONFIG.fields;
    assert.equal(b.length, CONFIG.size);
    assert.equal(b.readUInt32LE(f.watch_count), 2);
    assert.equal(b.readUInt32LE(f.rate_limit), 500);
    assert.equal(b[f.log_enabled], 1);
    assert.deepEqual([b.readUInt32LE(f.ifindex), b.readUInt32LE(f.ifindex + 4), b.readUInt32LE(f.ifindex + 8)], [7, 3, 0]);
    assert.deepEqual([b[f.filter], b[f.capture], b.readUInt32LE(f.snaplen), b.readUInt32LE(f.copy_bytes)], [1, 1, 128, 200]);
    assert.equal(encodeConfig({ watchCount: 0, rateLimit: 0, log: false, ifindexes: [] }).readUInt32LE(f.copy_bytes), 9216, 'the whole copy when not given');
  });

  test('flow key and per-CPU values', () => {
    const k = Buffer.alloc(FLOW_KEY.size);
    parseNet('10.0.0.2')!.addr.copy(k, FLOW_KEY.fields.src);
    parseNet('10.0.0.1')!.addr.copy(k, FLOW_KEY.fields.dst);
    k.writeUInt32LE(7, FLOW_KEY.fields.ifindex);
    k.writeUInt16LE(40000, FLOW_KEY.fields.sport);
    k.writeUInt16LE(9000, FLOW_KEY.fields.dport);
    k[FLOW_KEY.fields.proto] = 17;
    k[FLOW_KEY.fields.dir] = 1;
    k[FLOW_KEY.fields.family] = 4;
    k.writeUInt16LE(100, FLOW_KEY.fields.vlan);
    assert.deepEqual(decodeFlowKey(k, 0), { src: '10.0.0.2', dst: '10.0.0.1', ifindex: 7, sport: 40000, dport: 9000, proto: 17, dir: 'egress', kind: 0, family: 4, vlan: 100 });
    // ICMP: type and code when the header was seen; 255/255 (a fragment) leaves them out
    k.writeUInt16LE(0, FLOW_KEY.fields.sport);
    k.writeUInt16LE(0, FLOW_KEY.fields.dport);
    k[FLOW_KEY.fields.proto] = 1;
    k[FLOW_KEY.fields.icmp_type] = 3;
    k[FLOW_KEY.fields.icmp_code] = 1;
    assert.deepEqual(decodeFlowKey(k, 0).icmp, { type: 3, code: 1 });
    k[FLOW_KEY.fields.icmp_type] = 255;
    k[FLOW_KEY.fields.icmp_code] = 255;
    assert.equal('icmp' in decodeFlowKey(k, 0), false);

    const v = Buffer.alloc(FLOW_VAL.size * 3);
    const put = (cpu: number, pk: number, by: number, first: number, last: number, flags: number): void => {
      const o = cpu * FLOW_VAL.size;
      v.writeBigUInt64LE(BigInt(pk), o + FLOW_VAL.fields.packets);
      v.writeBigUInt64LE(BigInt(by), o + FLOW_VAL.fields.bytes);
      v.writeBigUInt64LE(BigInt(first), o + FLOW_VAL.fields.first_ns);
      v.writeBigUInt64LE(BigInt(last), o + FLOW_VAL.fields.last_ns);
      v[o + FLOW_VAL.fields.tcp_flags] = flags;
    };
    put(0, 3, 300, 50, 90, 0x02);
    put(1, 0, 0, 0, 0, 0); // a CPU that never saw the flow
    put(2, 4, 400, 20, 70, 0x10);
    assert.deepEqual(sumFlowValues(v, 0, 3), { packets: 7n, bytes: 700n, firstNs: 20n, lastNs: 90n, tcpFlags: 0x12 });
  });

  test('events', () => {
    const b = Buffer.alloc(EVENT.size + 8);
    const o = 8;
    const f = EVENT.fields;
    b.writeBigUInt64LE(123n, o + f.ts_ns);
    parseNet('2001:db8::1')!.addr.copy(b, o + f.src);
    parseNet('2001:db8::2')!.addr.copy(b, o + f.dst);
    b.writeUInt32LE(3, o + f.ifindex);
    b.writeUInt32LE(1082, o + f.len);
    b.writeUInt16LE(49152, o + f.sport);
    b.writeUInt16LE(4791, o + f.dport);
    b[o + f.proto] = 17;
    b[o + f.kind] = 2;
    b[o + f.family] = 6;
    b[o + f.roce_opcode] = 0x0a;
    b.writeUInt32LE(0xabcd, o + f.roce_qp);
    b.writeUInt16LE(3, o + f.segs);
    b.writeUInt16LE(42, o + f.vlan);
    const e = decodeEvent(new DataView(b.buffer, b.byteOffset, b.length), o);
    assert.deepEqual(e, {
      tsNs: 123n, ifindex: 3, dir: 'ingress', proto: 'roce_v2', src: '2001:db8::1', dst: '2001:db8::2', sport: 49152, dport: 4791, len: 1082,
      segs: 3, vlan: 42, roceOpcode: 'RC_RDMA_WRITE_ONLY', roceQp: 0xabcd,
    });
  });
});

test('stack: a stage that sees nothing while a later one counts is named, with the cause: an inlined copy (fentry/kprobe), another network namespace (netfilter)', async () => {
  const { silentStages } = await import('../../src/modes/stack/index.js');
  const ALL = 'every network namespace';
  const st = (stage: string, hook: string | null, packets: number, scope = ALL) => ({ stage, hook, scope, packets, latency_count: 0, latency_sum_ns: 0, latency_hist: [] });
  const c = (rcv: string, n: number, scope = ALL, local = 'fentry:ip_local_deliver+ip6_input', localScope = ALL) => ({
    stages: [st('netif_receive_skb', 'tp_btf:netif_receive_skb', 60), st('ip_rcv_finish', rcv, n, scope), st('ip_local_deliver', local, local.startsWith('netfilter') ? 0 : 50, localScope), st('tcp_v4_do_rcv', 'tp_btf:tcp_probe', 41)],
    drops: {},
    teardown: {},
    events_sent: 0,
    events_suppressed: 0,
    events_lost: 0,
  });
  const [w] = silentStages(c('fentry:ip_rcv_finish+ip6_rcv_finish', 0));
  assert.match(w!, /^ip_rcv_finish \(fentry:ip_rcv_finish\+ip6_rcv_finish, sees every network namespace\) has seen no packet while ip_local_deliver \(fentry:ip_local_deliver\+ip6_input, sees every network namespace\) saw 50: this kernel runs an inlined copy/);
  assert.deepEqual(silentStages(c('kprobe:ip_rcv_finish', 0)).length, 1);
  assert.deepEqual(silentStages(c('fentry:ip_rcv_finish', 3)), [], 'it sees packets');
  assert.deepEqual(silentStages(c('fentry:ip_rcv_finish', 0), 51), [], 'too few later packets to say');
  // the issue's case: netfilter (xtrace's namespace) at both IP stages, 0 each, while tcp_probe (every namespace) counts 41
  const own = "net:[4026531840] (xtrace's)";
  const nf = silentStages(c('netfilter:ipv4/pre_routing+ipv6/pre_routing', 0, own, 'netfilter:ipv4/local_in+ipv6/local_in', own));
  assert.equal(nf.length, 2, nf.join('\n'));
  assert.match(nf[0]!, /^ip_rcv_finish \(netfilter:ipv4\/pre_routing\+ipv6\/pre_routing, sees net:\[4026531840\] \(xtrace's\)\) has seen no packet while tcp_v4_do_rcv \(tp_btf:tcp_probe, sees every network namespace\) saw 41: the packets are in another network namespace than the one it watches; --netns PID\|NAME makes every stage watch that one$/);
  assert.match(nf[1]!, /^ip_local_deliver \(netfilter/);
});
