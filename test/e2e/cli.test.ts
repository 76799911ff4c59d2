/** Bad input: one clear line naming the flag and the accepted form, the DESIGN exit code, nothing attached. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { CLI, ROOT, requireKernel } from '../lib/env.js';
import { NetnsPair } from '../lib/netns.js';

function xtrace(args: string[], ns?: string, env: Record<string, string> = {}): { code: number | null; stderr: string; stdout: string } {
  const argv = ns ? ['ip', 'netns', 'exec', ns, process.execPath, CLI, ...args] : [process.execPath, CLI, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, XTRACE_LOG_FORMAT: 'text', ...env }, timeout: 30_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('bad input', () => {
  test('help and version exit 0; an unknown command is named', () => {
    assert.equal(xtrace(['--help']).code, 0);
    assert.equal(xtrace(['help', 'xdp']).code, 0);
    assert.match(xtrace(['help', 'xdp']).stdout, /--watch-ip/);
    const bogus = xtrace(['bogus']);
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr.trim(), /^xtrace: unknown command 'bogus' \(commands: xdp, stack, limit, rdma, nccl, interfaces, probe, build-bpf, docker\)$/);
    const mode = xtrace([], undefined, { MODE: 'capture' });
    assert.equal(mode.code, 2);
    assert.equal(mode.stderr.trim(), "xtrace: MODE: expected xdp|stack|limit|rdma|nccl, got 'capture'");
    // MODE with flags only, as the appliance's entrypoint runs it (`xtrace $XTRACE_ARGS`)
    const listed = xtrace(['-o', 'json', '--list', '--sysfs-root', `${ROOT}test/fixtures/sysfs`], undefined, { MODE: 'rdma' });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout.split('\n').filter((l) => l.startsWith('{"type":"rdma_device"')).length, 4);
    assert.match(xtrace(['xdp', '--help']).stdout, /--watch-ip/);
    assert.equal(xtrace(['--version']).stdout.trim(), '0.1.0');
  });

  test('each malformed value gets one line naming the flag, exit 2, nothing attached', async (t) => {
    if (!requireKernel(t)) return;
    const p = new NetnsPair();
    t.after(() => p.destroy());
    try {
      const cases: Array<[string[], RegExp, Record<string, string>?]> = [
        [['-i', 'nosuch0'], new RegExp(`^xtrace: -i/--iface: no interface 'nosuch0' \\(available: lo, ${p.ifA}\\)$`)],
        [['-i', p.ifA, '--watch-ip', '10.0.0.300'], /^xtrace: --watch-ip: expected an IP address or CIDR .*got '10\.0\.0\.300'$/],
        [['-i', p.ifA, '--watch-ip', '10.0.0.0/33'], /^xtrace: --watch-ip: expected an IP address or CIDR/],
        [['-i', p.ifA, '--src-port', '70000'], /^xtrace: --src-port: expected a port from 1 to 65535, got '70000'$/],
        [['-i', p.ifA, '--protocol', 'sctp'], /^xtrace: --protocol: expected tcp\|udp\|icmp\|icmpv6\|roce\|roce_v1\|roce_v2\|all/],
        [['-i', p.ifA, '--interval', '50'], /^xtrace: --interval: expected milliseconds from 100 to 3600000/],
        [['-i', p.ifA], /^xtrace: INTERVAL: expected milliseconds from 100 to 3600000 .*got 'soon'$/, { INTERVAL: 'soon' }],
        [[], /^xtrace: INTERFACE: no interface 'eth99'/, { INTERFACE: 'eth99' }],
        [['-i', p.ifA, '--xdp-mode', 'turbo'], /^xtrace: --xdp-mode: expected auto\|native\|generic, got 'turbo'$/],
        [['-i', p.ifA, '--ingress-hook', 'bpf'], /^xtrace: --ingress-hook: expected auto\|xdp\|tc, got 'bpf'$/],
        [['-i', p.ifA, '--max-flows', '16'], /^xtrace: --max-flows: expected a whole number from \d+ to \d+ \(at least 256 per CPU; at most a quarter of memory at \d+ bytes a flow on \d+ CPUs\), got '16'$/],
        [['-i', p.ifA, '--max-flows', '999999999'], /^xtrace: --max-flows: expected a whole number from/],
        [['-i', p.ifA, '--ready-file', '/nonexistent/dir/ready'], /^xtrace: --ready-file: expected a path in an existing, writable directory, got '\/nonexistent\/dir\/ready'$/],
        [['-i', p.ifA, '--bogus'], /^xtrace: unknown option '--bogus' \(xtrace xdp --help lists its options\)$/],
        [['-i', p.ifA, '--rate-limit', 'fast'], /^xtrace: --rate-limit: expected a number with an optional K\/M suffix/],
        [['-i', p.ifA], /^xtrace: XTRACE_LOG_LEVEL: expected error\|warn\|info\|debug, got 'bogus'$/, { XTRACE_LOG_LEVEL: 'bogus' }],
        [['-i', p.ifA], /^xtrace: XTRACE_LOG_FORMAT: expected text\|json, got 'yaml'$/, { XTRACE_LOG_FORMAT: 'yaml' }],
        [['-i', p.ifA, '--metrics-listen', '192.0.2.1:9436'], /^xtrace: --metrics-listen: cannot listen on 192\.0\.2\.1:9436: the address is not on this machine; expected \[host\]:port/],
      ];
      for (const [args, re, env] of cases) {
        const r = xtrace(['xdp', ...args], p.nsA, env);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr.trim().split('\n')[0]!, re);
        assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
        const link = JSON.parse(p.exec(p.nsA, 'ip', '-j', '-d', 'link', 'show', 'dev', p.ifA)) as Array<{ xdp?: unknown }>;
        assert.equal(link[0]!.xdp, undefined);
      }
    } finally {
      p.destroy();
    }
  });

  test('without privilege: exit 3 and one line', async (t) => {
    if (!requireKernel(t)) return;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, 'xdp', '-i', 'lo'], { encoding: 'utf8' });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr.trim(), /^xtrace: xtrace xdp needs root \(CAP_BPF or CAP_SYS_ADMIN, and CAP_NET_ADMIN\): run it with sudo$/);
    // probe asks the kernel about program and map types, which needs the same privilege
    const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, 'probe'], { encoding: 'utf8' });
    assert.equal(probe.status, 3, probe.stderr);
    assert.match(probe.stderr.trim(), /^xtrace: xtrace probe needs root/);
    assert.equal(probe.stdout, '');
  });
});
