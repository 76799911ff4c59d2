import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import snappy from 'snappyjs';
import { XtError } from '../../src/errors.js';
import { FlowSeries } from '../../src/export/xdp.js';
import { type Metric, MetricsEndpoint, MetricsRegistry, wantsOpenMetrics } from '../../src/export/prometheus.js';
import { WRITE_REQUEST, encodeRemoteWrite, encodeVmImport } from '../../src/export/push.js';
import { parseRemoteWriteUrl, parseVictoriaMetricsUrl } from '../../src/options/push.js';
import { parseBasicAuthFile, parseLabels } from '../../src/options/common.js';
import { parseListen } from '../../src/options/index.js';
import type { FlowRecord } from '../../src/records/index.js';

const families: Metric[] = [
  { name: 'a_total', help: 'A.', type: 'counter', samples: [{ labels: { x: 'q"u\\o\nte', n: 1 }, value: 5 }, { labels: {}, value: 1.5 }] },
  { name: 'empty', help: 'E.', type: 'gauge', samples: [] },
];

test('text exposition through prom-client: HELP/TYPE, escaped labels, empty families left out, xtrace health and process metrics', async () => {
  const r = new MetricsRegistry('xdp');
  r.set(families);
  const { contentType, body } = await r.exposition();
  assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(body, /^# HELP a_total A\.\n# TYPE a_total counter\na_total\{x="q\\"u\\\\o\\nte",n="1"\} 5\na_total 1\.5$/m);
  assert.doesNotMatch(body, /empty/);
  assert.match(body, /^xtrace_build_info\{version="[^"]+",mode="xdp",nodejs="[^"]+",kernel="[^"]+"\} 1$/m);
  assert.match(body, /^xtrace_process_cpu_user_seconds_total \d/m);
  assert.match(body, /^xtrace_process_resident_memory_bytes \d/m);
});

test('OpenMetrics when the scraper prefers it: counter families without _total, samples with it, # EOF; the text format stays as it was', async () => {
  const r = new MetricsRegistry('xdp');
  r.set(families);
  const om = await r.exposition(true);
  assert.equal(om.contentType, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  assert.match(om.body, /^# TYPE a counter\na_total\{x="q\\"u\\\\o\\nte",n="1"\} 5$/m);
  assert.match(om.body, /^# TYPE xtrace_process_cpu_user_seconds counter\nxtrace_process_cpu_user_seconds_total /m);
  assert.match(om.body, /\n# EOF\n$/);
  assert.doesNotMatch(om.body, /_total_total/);
  assert.match((await r.exposition()).body, /^# TYPE a_total counter$/m);
  // Prometheus 2.x's Accept header, and others
  assert.equal(wantsOpenMetrics('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), true);
  assert.equal(wantsOpenMetrics('text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5'), false);
  assert.equal(wantsOpenMetrics('*/*'), false);
  assert.equal(wantsOpenMetrics(undefined), false);
});

test('listen addresses', () => {
  assert.deepEqual(parseListen(':9435', '--metrics-listen'), { host: '', port: 9435 });
  assert.deepEqual(parseListen('127.0.0.1:0', '--metrics-listen'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListen('[::1]:9100', '--metrics-listen'), { host: '::1', port: 9100 });
  for (const bad of ['9435', 'host:', ':70000', 'a:b:c'])
    assert.throws(() => parseListen(bad, '--metrics-listen'), (e: unknown) => e instanceof XtError && e.exitCode === 2 && /^--metrics-listen: expected \[host\]:port/.test(e.message));
});

test('no host: one endpoint on both families; an address in use is bad input (exit 2)', async () => {
  const reg = new MetricsRegistry('xdp');
  const ep = await MetricsEndpoint.start({ host: '', port: 0 }, '--metrics-listen', reg);
  try {
    reg.set([{ name: 'xtrace_flows', help: 'h', type: 'gauge', samples: [{ labels: {}, value: 3 }] }]);
    const port = new URL(ep.url).port;
    // IPv6 too where the machine has it (a container without IPv6 gets the IPv4 fallback)
    const v6 = Object.values(networkInterfaces()).some((l) => l?.some((a) => a.address === '::1'));
    for (const host of ['127.0.0.1', ...(v6 ? ['[::1]'] : [])]) assert.match(await (await fetch(`http://${host}:${port}/metrics`)).text(), /^xtrace_flows 3$/m, host);
    await assert.rejects(MetricsEndpoint.start({ host: '127.0.0.1', port: Number(port) }, '--metrics-listen', reg), (e: unknown) =>
      e instanceof XtError && e.exitCode === 2 && /^--metrics-listen: cannot listen on 127\.0\.0\.1:\d+: the address is in use; expected \[host\]:port/.test(e.message));
  } finally {
    await ep.close();
  }
});

test('remote-write body: snappy block of a WriteRequest, one series per label set, labels sorted, samples in time order', () => {
  const body = encodeRemoteWrite(
    [
      { ts: 1000, samples: [{ name: 'x_total', labels: { b: '2', a: '1' }, value: 1 }, { name: 'y', labels: {}, value: 7 }] },
      { ts: 2000, samples: [{ name: 'x_total', labels: { a: '1', b: '2' }, value: 3 }] },
    ],
    { job: 'xtrace' },
  );
  const WriteRequest = WRITE_REQUEST;
  const req = WriteRequest.toObject(WriteRequest.decode(snappy.uncompress(body)), { longs: Number }) as {
    timeseries: Array<{ labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: number }> }>;
  };
  assert.deepEqual(req.timeseries, [
    {
      labels: [
        { name: '__name__', value: 'x_total' },
        { name: 'a', value: '1' },
        { name: 'b', value: '2' },
        { name: 'job', value: 'xtrace' },
      ],
      samples: [
        { value: 1, timestamp: 1000 },
        { value: 3, timestamp: 2000 },
      ],
    },
    { labels: [{ name: '__name__', value: 'y' }, { name: 'job', value: 'xtrace' }], samples: [{ value: 7, timestamp: 1000 }] },
  ]);
  assert.equal(
    encodeVmImport([{ ts: 5, samples: [{ name: 'y', labels: { q: 'a"b' }, value: 2 }] }]),
    '{"metric":{"__name__":"y","q":"a\\"b"},"values":[2],"timestamps":[5]}\n',
  );
});

test('push URLs, labels and credentials: bad input names the flag', () => {
  assert.equal(parseVictoriaMetricsUrl('http://vm:8428', '--victoriametrics').url.href, 'http://vm:8428/api/v1/import');
  assert.equal(parseVictoriaMetricsUrl('http://vm:8428', '--victoriametrics').protocol, 'vm-import');
  assert.equal(parseVictoriaMetricsUrl('http://vm:8428/api/v1/write', 'VICTORIAMETRICS_REMOTE_WRITE').protocol, 'remote-write');
  assert.equal(parseRemoteWriteUrl('https://p:9090/api/v1/write', '--remote-write').url.pathname, '/api/v1/write');
  const bad = (f: () => unknown, re: RegExp): void => assert.throws(f, (e: unknown) => e instanceof XtError && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n'));
  bad(() => parseRemoteWriteUrl('prometheus:9090', '--remote-write'), /^--remote-write: expected a URL like http\(s\):\/\/host:port\/api\/v1\/write, got 'prometheus:9090'$/);
  bad(() => parseRemoteWriteUrl('ftp://x/', '--remote-write'), /^--remote-write: expected a URL/);
  bad(() => parseVictoriaMetricsUrl('http://u:p@vm:8428', '--victoriametrics'), /^--victoriametrics: credentials do not belong in the URL/);
  assert.deepEqual(parseLabels('host_ip=10.0.0.1,collect_agg=rack1', '--push-label'), { host_ip: '10.0.0.1', collect_agg: 'rack1' });
  bad(() => parseLabels('1x=2', '--push-label'), /^--push-label: expected name=value with a label name/);
  bad(() => parseLabels('__name__=2', '--push-label'), /^--push-label: expected name=value/);
  bad(() => parseBasicAuthFile('/nonexistent/creds', '--push-basic-auth-file'), /^--push-basic-auth-file: cannot read '\/nonexistent\/creds': no such file; expected a file holding user:password$/);
});

const flow = (sport: number, packets: number, bytes: number, firstSeen = 't0'): FlowRecord =>
  ({ type: 'flow', ts: '', iface: 'v0', dir: 'ingress', proto: 'udp', src: '10.0.0.1', sport, dst: '10.0.0.2', dport: 9, packets, bytes, pps_rate: 0, bps_rate: 0, first_seen: firstSeen, last_seen: '' }) as FlowRecord;

test('flow series: at most --metrics-max-flows, the rest counted; monotonic when the kernel evicts a flow and it comes back', () => {
  const fs = new FlowSeries(2);
  let r = fs.select([flow(1, 10, 1000), flow(2, 5, 500), flow(3, 1, 100)]);
  assert.deepEqual(r.flows.map((f) => [f.sport, f.packets, f.bytes]), [[1, 10, 1000], [2, 5, 500]]);
  assert.equal(r.notExported, 1);
  // flow 1 evicted and seen again from zero (a new first_seen), flow 2 gone
  r = fs.select([flow(1, 2, 200, 't1'), flow(3, 1, 100)]);
  assert.deepEqual(r.flows.map((f) => [f.sport, f.packets, f.bytes]), [[1, 12, 1200], [3, 1, 100]]);
  assert.equal(r.notExported, 1);
  // flow 2 comes back with a lower count and the same first_seen granularity: still a new life
  r = fs.select([flow(2, 1, 50), flow(1, 3, 300, 't1')]);
  assert.deepEqual(r.flows.map((f) => [f.sport, f.packets, f.bytes]), [[2, 6, 550], [1, 13, 1300]]);
});
