import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { XtError } from '../../src/errors.js';
import { bytesPerFlow, maxFlowsBounds, parseMaxFlows } from '../../src/modes/xdp/options.js';
import { flag, helpOf, optional, resolve, value } from '../../src/options/spec.js';
import { ROOT } from '../lib/env.js';
import { formatAddr } from '../../src/options/ip.js';
import {
  defaultRouteInterface, listInterfaces, parseInteger, parseInterfaces, parseInterval, parseNet, parseNetList, parsePort, parseProtocols, parseByteRate, parseRate, parseSeconds,
} from '../../src/options/index.js';

const usage = (fn: () => unknown, re: RegExp): void =>
  assert.throws(fn, (e: unknown) => e instanceof XtError && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n'));

describe('options', () => {
  test('interfaces: entries of /sys/class/net that are not interfaces (bonding_masters) are left out', () => {
    const net = join(ROOT, 'test/fixtures/sysfs/class/net');
    assert.ok(existsSync(join(net, 'bonding_masters')), 'the fixture has the bonding module\'s file');
    assert.deepEqual(listInterfaces(net).map((i) => i.name).sort(), ['enp5s0f0', 'ens1f0np0', 'ens2f0np0', 'ibp177s0']);
  });

  test('--max-flows: at least 256 per CPU, at most a quarter of memory, at most 16M', () => {
    assert.deepEqual(maxFlowsBounds(2, 24 * 2 ** 30), { min: 1024, max: 16_777_216 });
    const big = maxFlowsBounds(64, 16 * 2 ** 30); // 64 CPUs, 16 GiB: 2,672 bytes a flow (a 48-byte key, 64 of the element, 40 a CPU)
    assert.equal(bytesPerFlow(64), 48 + 64 + 40 * 64);
    assert.equal(big.min, 16384);
    assert.equal(big.max, Math.floor((16 * 2 ** 30) / 4 / bytesPerFlow(64)));
    assert.equal(parseMaxFlows('65536', '--max-flows', big, 64), 65536);
    usage(() => parseMaxFlows('16', '--max-flows', big, 64), /^--max-flows: expected a whole number from 16384 to 1607397 \(at least 256 per CPU; at most a quarter of memory at 2672 bytes a flow on 64 CPUs\), got '16'$/);
    usage(() => parseMaxFlows('16777216', '--max-flows', big, 64), /^--max-flows: expected a whole number from 16384/);
  });

  test('flag, then environment variable, then default; errors name where the value came from', () => {
    const specs = {
      n: value('-n, --num <n>', 'a number', (v, from) => parseInteger(v, from, 0, 9), { env: ['XT_TEST_A', 'XT_TEST_B'], default: '1' }),
      o: optional('--opt <x>', 'optional', (v) => v),
      b: flag('-b, --bool', 'a switch'),
    };
    const saved = { ...process.env };
    try {
      delete process.env.XT_TEST_A;
      delete process.env.XT_TEST_B;
      assert.deepEqual(resolve(specs, {}), { n: 1, o: undefined, b: false });
      process.env.XT_TEST_B = '3';
      assert.deepEqual(resolve(specs, { bool: true }), { n: 3, o: undefined, b: true });
      process.env.XT_TEST_A = '2';
      assert.equal(resolve(specs, {}).n, 2);
      assert.equal(resolve(specs, { num: '5', opt: 'x' }).n, 5);
      usage(() => resolve(specs, { num: '12' }), /^-n\/--num: expected a whole number from 0 to 9, got '12'$/);
      process.env.XT_TEST_A = 'many';
      usage(() => resolve(specs, {}), /^XT_TEST_A: expected a whole number from 0 to 9, got 'many'$/);
      assert.equal(helpOf(specs.n), 'a number (env XT_TEST_A or XT_TEST_B; default: 1)');
      assert.equal(helpOf(value('--label <l>', 'a label', (v) => v, { default: '' })), 'a label', 'an empty default is not shown as "(default: )"');
    } finally {
      process.env = saved;
    }
  });

  test("package.json's bin is the file the build writes", () => {
    const bin = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin.xtrace!;
    assert.ok(existsSync(join(ROOT, bin)), `${bin} exists after the build`);
    assert.match(readFileSync(join(ROOT, bin), 'utf8'), /^#!\/usr\/bin\/env node/);
  });

  test('interval: ms or with a unit, within 100..3600000', () => {
    assert.equal(parseInterval('5000'), 5000);
    assert.equal(parseInterval('500ms'), 500);
    assert.equal(parseInterval('2.5s'), 2500);
    assert.equal(parseInterval('1m'), 60000);
    assert.equal(parseInterval('100'), 100);
    assert.equal(parseInterval('3600000'), 3600000);
    assert.equal(parseInterval('1h'), 3600000, 'one hour: the maximum, written as such');
    usage(() => parseInterval('2h'), /^--interval: expected milliseconds from 100 to 3600000 \(or 500ms, 5s, 1m, 1h\), got '2h'$/);
    usage(() => parseInterval('99'), /^--interval: expected milliseconds from 100 to 3600000 .*got '99'$/);
    usage(() => parseInterval('3600001'), /--interval/);
    usage(() => parseInterval('fast'), /--interval/);
    usage(() => parseInterval('-5'), /--interval/);
  });

  test('ports and integers', () => {
    assert.equal(parsePort('443', '--dst-port'), 443);
    usage(() => parsePort('0', '--dst-port'), /^--dst-port: expected a port from 1 to 65535, got '0'$/);
    usage(() => parsePort('65536', '--src-port'), /^--src-port/);
    usage(() => parsePort('80x', '--src-port'), /^--src-port/);
    assert.equal(parseInteger('0', '--top', 0, 10), 0);
    usage(() => parseInteger('11', '--top', 0, 10), /^--top: expected a whole number from 0 to 10, got '11'$/);
  });

  test('rates with K/M/G', () => {
    assert.equal(parseRate('10000', '--rate-limit'), 10000);
    assert.equal(parseRate('10k', '--rate-limit'), 10000);
    assert.equal(parseRate('2.5M', '--rate-limit'), 2500000);
    assert.equal(parseRate('1G', '--rate'), 1e9);
    usage(() => parseRate('1T', '--rate-limit'), /^--rate-limit: expected a number with an optional K\/M\/G suffix/);
    usage(() => parseRate('5k', '--rate-limit', 1000), /optional K suffix \(e\.g\. 10000, 10k\) up to 1,000, got '5k'$/);
    // the packet log's bound: no G suffix is offered, as no value with it fits
    usage(() => parseRate('5G', '--rate-limit', 100_000_000), /^--rate-limit: expected a number with an optional K\/M suffix .* up to 100,000,000, got '5G'$/);
  });

  test('byte rates (limit -r): K/M/G binary, KB/MB/GB decimal, kbit/mbit/gbit bits; seconds', () => {
    assert.equal(parseByteRate('100K', '-r'), 100 * 1024);
    assert.equal(parseByteRate('1M', '-r'), 1024 ** 2);
    assert.equal(parseByteRate('2G/s', '-r'), 2 * 1024 ** 3);
    assert.equal(parseByteRate('1.5MiB', '-r'), 1.5 * 1024 ** 2);
    assert.equal(parseByteRate('10MB', '-r'), 10e6);
    assert.equal(parseByteRate('100mbit', '-r'), 12.5e6);
    assert.equal(parseByteRate('1Gbit', '-r'), 125e6);
    assert.equal(parseByteRate('512', '-r'), 512);
    for (const bad of ['0', '0M', 'fast', '1T', '-1M', '1 M M', '200G'])
      usage(() => parseByteRate(bad, '-r/--rate'), /^-r\/--rate: expected a rate above zero in bytes per second: 100K, 1M, 2G \(KiB\/MiB\/GiB per second\)/);
    assert.equal(parseSeconds('60', '-t', 0.001, 3600), 60);
    assert.equal(parseSeconds('250ms', '-t', 0.001, 3600), 0.25);
    usage(() => parseSeconds('0', '-t', 0.001, 3600), /^-t: expected seconds from 0.001 to 3600/);
  });

  test('protocols', () => {
    assert.deepEqual(parseProtocols('tcp,UDP'), ['tcp', 'udp']);
    assert.deepEqual(parseProtocols('roce_v2'), ['roce_v2']);
    assert.deepEqual(parseProtocols('icmpv6'), ['icmpv6']);
    usage(() => parseProtocols('sctp'), /^--protocol: expected tcp\|udp\|icmp\|icmpv6\|roce\|roce_v1\|roce_v2\|all/);
    usage(() => parseProtocols(','), /^--protocol/);
  });

  test('IPs and CIDRs: normalised, masked, IPv4 mapped into 16 bytes', () => {
    const a = parseNet('192.168.1.100')!;
    assert.deepEqual([a.text, a.family, a.prefix, a.addr.toString('hex')], ['192.168.1.100', 4, 128, '00000000000000000000ffffc0a80164']);
    const n = parseNet('10.1.2.3/8')!;
    assert.deepEqual([n.text, n.prefix, n.addr.toString('hex')], ['10.0.0.0/8', 104, '00000000000000000000ffff0a000000']);
    const v6 = parseNet('2001:DB8:0:0:1::1/64')!;
    assert.deepEqual([v6.text, v6.prefix], ['2001:db8::/64', 64]);
    assert.equal(parseNet('::ffff:1.2.3.4')!.addr.toString('hex'), '00000000000000000000ffff01020304');
    assert.equal(parseNet('::')!.text, '::');
    for (const bad of ['10.0.0.256', '10.0.0.1/33', '2001:db8::/129', '10.0.0.1/', '1.2.3', 'fe80::1%eth0', 'a/b/c', '', 'host'])
      assert.equal(parseNet(bad), null, bad);
  });

  test('address formatting follows RFC 5952', () => {
    const f = (s: string): string => formatAddr(parseNet(s)!.addr, s.includes(':') ? 6 : 4);
    assert.equal(f('2001:db8:0:0:0:0:2:1'), '2001:db8::2:1');
    assert.equal(f('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
    assert.equal(f('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1');
    assert.equal(f('fe80::1'), 'fe80::1');
    assert.equal(f('::1'), '::1');
    assert.equal(f('1::'), '1::');
    assert.equal(f('10.0.0.1'), '10.0.0.1');
  });

  test('watch lists: duplicates dropped, overlaps refused', () => {
    assert.deepEqual(parseNetList('10.0.0.1, 10.0.0.1,2001:db8::1', '--watch-ip').map((n) => n.text), ['10.0.0.1', '2001:db8::1']);
    usage(() => parseNetList('10.0.0.5,10.0.0.0/24', '--watch-ip'), /^--watch-ip: 10\.0\.0\.0\/24 and 10\.0\.0\.5 overlap/);
    usage(() => parseNetList('10.0.0.0/8,10.1.0.0/16', 'TARGET_IP'), /^TARGET_IP: 10\.1\.0\.0\/16 and 10\.0\.0\.0\/8 overlap/);
    usage(() => parseNetList('10.0.0.1,nope', '--watch-ip'), /^--watch-ip: expected an IP address or CIDR .*got 'nope'$/);
    usage(() => parseNetList(' , ', '--watch-ip'), /^--watch-ip: expected IP addresses or CIDRs/);
  });

  test('interfaces are checked against the machine', () => {
    const known = [{ name: 'lo', ifindex: 1 }, { name: 'eth0', ifindex: 2 }];
    assert.deepEqual(parseInterfaces('eth0,lo,eth0', '--iface', known), [known[1], known[0]]);
    usage(() => parseInterfaces('eth1', '-i/--iface', known), /^-i\/--iface: no interface 'eth1' \(available: lo, eth0\)$/);
  });

  test('default route from /proc/net/route, then ipv6_route', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xt-proc-'));
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'route'), 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\neth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n');
      assert.equal(defaultRouteInterface(dir), 'eth0');
      writeFileSync(join(dir, 'route'), 'Iface\tDestination\n');
      writeFileSync(join(dir, 'ipv6_route'), `${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     ens5\n`);
      assert.equal(defaultRouteInterface(dir), 'ens5');
      writeFileSync(join(dir, 'ipv6_route'), '');
      assert.equal(defaultRouteInterface(dir), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
