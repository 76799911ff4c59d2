import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { XtError } from '../../src/errors.js';
import { MetricsEndpoint, render } from '../../src/export/prometheus.js';
import { parseListen } from '../../src/options/index.js';

test('text exposition: HELP/TYPE once per family, escaped labels, empty families left out', () => {
  assert.equal(
    render([
      { name: 'a_total', help: 'A.', type: 'counter', samples: [{ labels: { x: 'q"u\\o\nte', n: 1 }, value: 5 }, { labels: {}, value: 1.5 }] },
      { name: 'empty', help: 'E.', type: 'gauge', samples: [] },
    ]),
    '# HELP a_total A.\n# TYPE a_total counter\na_total{x="q\\"u\\\\o\\nte",n="1"} 5\na_total 1.5\n',
  );
});

test('listen addresses', () => {
  assert.deepEqual(parseListen(':9435', '--metrics-listen'), { host: '', port: 9435 });
  assert.deepEqual(parseListen('127.0.0.1:0', '--metrics-listen'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListen('[::1]:9100', '--metrics-listen'), { host: '::1', port: 9100 });
  for (const bad of ['9435', 'host:', ':70000', 'a:b:c'])
    assert.throws(() => parseListen(bad, '--metrics-listen'), (e: unknown) => e instanceof XtError && e.exitCode === 2 && /^--metrics-listen: expected \[host\]:port/.test(e.message));
});

test('no host: one endpoint on both families; an address in use is bad input (exit 2)', async () => {
  const ep = await MetricsEndpoint.start({ host: '', port: 0 }, '--metrics-listen');
  try {
    ep.set([{ name: 'xtrace_flows', help: 'h', type: 'gauge', samples: [{ labels: {}, value: 3 }] }]);
    const port = new URL(ep.url).port;
    // IPv6 too where the machine has it (a container without IPv6 gets the IPv4 fallback)
    const v6 = Object.values(networkInterfaces()).some((l) => l?.some((a) => a.address === '::1'));
    for (const host of ['127.0.0.1', ...(v6 ? ['[::1]'] : [])]) assert.match(await (await fetch(`http://${host}:${port}/metrics`)).text(), /^xtrace_flows 3$/m, host);
    await assert.rejects(MetricsEndpoint.start({ host: '127.0.0.1', port: Number(port) }, '--metrics-listen'), (e: unknown) =>
      e instanceof XtError && e.exitCode === 2 && /^--metrics-listen: cannot listen on 127\.0\.0\.1:\d+: the address is in use; expected \[host\]:port/.test(e.message));
  } finally {
    await ep.close();
  }
});
