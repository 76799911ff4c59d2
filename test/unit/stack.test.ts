/** The stack mode's pure parts: its metrics (latency buckets, drops apart from teardown) and renderers. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LATENCY_EDGES_NS, stackMetrics } from '../../src/export/stack.js';
import { countersText, stackLine, stackRow } from '../../src/output/stack.js';
import type { StackCounters, StackRecord } from '../../src/records/index.js';

const counters = (): StackCounters => ({
  stages: [
    { stage: 'netif_receive_skb', hook: 'tp_btf:netif_receive_skb', scope: 'every network namespace', packets: 10, latency_count: 0, latency_sum_ns: 0, latency_hist: [] },
    {
      stage: 'tcp_v4_do_rcv',
      hook: 'tp_btf:tcp_probe',
      scope: 'every network namespace',
      packets: 10,
      latency_count: 10,
      latency_sum_ns: 123456,
      // log2 buckets: [512, 1024) x3, [2048, 4096) x4, [2^31, 2^32) x2, [2^33, 2^34) x1 (past the last edge)
      latency_hist: [
        { below_ns: 1024, count: 3 },
        { below_ns: 4096, count: 4 },
        { below_ns: 2 ** 32, count: 2 },
        { below_ns: 2 ** 34, count: 1 },
      ],
    },
    { stage: 'tcp_queue_rcv', hook: null, scope: null, packets: 0, latency_count: 0, latency_sum_ns: 0, latency_hist: [] },
  ],
  drops: { NO_SOCKET: 2 },
  teardown: { QUEUE_PURGE: 5 },
  events_sent: 1,
  events_suppressed: 0,
  events_lost: 0,
});

describe('stack metrics', () => {
  test('latency: 12 buckets a stage (1.02 us .. 4.29 s, every fourth kernel bucket edge), cumulative and exact, +Inf the count', () => {
    const m = stackMetrics(counters()).find((x) => x.name === 'xtrace_stack_latency_seconds')!;
    const buckets = m.samples.filter((s) => s.suffix === '_bucket');
    assert.equal(LATENCY_EDGES_NS.length, 12);
    assert.equal(buckets.length, 13, 'one stage with a hook past the first: 12 edges and +Inf');
    const at = (le: string): number => buckets.find((b) => b.labels.le === le)!.value;
    assert.equal(at(String(2 ** 10 / 1e9)), 3);
    assert.equal(at(String(2 ** 12 / 1e9)), 7);
    assert.equal(at(String(2 ** 30 / 1e9)), 7);
    assert.equal(at(String(2 ** 32 / 1e9)), 9);
    assert.equal(at('+Inf'), 10);
    assert.ok(buckets.every((b) => b.labels.stage === 'tcp_v4_do_rcv'), 'the first stage has no latency; an unserved one no series');
  });
  test('drops and teardown are separate families', () => {
    const ms = stackMetrics(counters());
    assert.deepEqual(ms.find((x) => x.name === 'xtrace_stack_drops_total')!.samples, [{ labels: { reason: 'NO_SOCKET' }, value: 2 }]);
    assert.deepEqual(ms.find((x) => x.name === 'xtrace_stack_teardown_total')!.samples, [{ labels: { reason: 'QUEUE_PURGE' }, value: 5 }]);
  });
});

describe('stack renderers', () => {
  test('the counters: each stage with what it sees; drops, then teardown apart', () => {
    const text = countersText(counters(), false);
    assert.match(text, /^STAGE +HOOK +SEES +PACKETS +AVG LATENCY$/m);
    assert.match(text, /^tcp_v4_do_rcv +tp_btf:tcp_probe +every network namespace +10 +12\.3us$/m);
    assert.match(text, /^drops: NO_SOCKET 2$/m);
    assert.match(text, /^freed at socket teardown \(not drops\): QUEUE_PURGE 5$/m);
  });
  test('a teardown kfree_skb row says so', () => {
    const r: StackRecord = {
      type: 'stack', ts: '2026-12-04T10:00:00.123456Z', stage: 'kfree_skb', hook: 'tp_btf:kfree_skb', family: 4, src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 5201,
      seq: 1, ack: 2, len: 0, tcp_flags: 'ACK', cpu: 0, skb: '0x1', drop_reason: 'QUEUE_PURGE', teardown: true,
    };
    assert.match(stackRow(r), /QUEUE_PURGE \(teardown\)$/);
    assert.match(stackLine(r), /reason QUEUE_PURGE \(socket teardown\)$/);
  });
});
