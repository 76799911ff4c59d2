#!/usr/bin/env node
/** xtrace: one subcommand per mode; flag, then environment variable, then detected default. */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, XtError, usageError } from './errors.js';
import { log, setVerbose } from './log.js';
import {
  INTERVAL_MAX, INTERVAL_MIN, PROTOCOLS, defaultRouteInterface, listInterfaces, parseChoice, parseInteger, parseInterfaces,
  parseInterval, parseListen, parseNetList, parsePort, parseProtocols, parseRate, parseSingleNet,
} from './options/index.js';

const env = (...names: string[]): string | undefined => names.map((n) => process.env[n]).find((v) => v !== undefined && v !== '');

function resolveIfaces(flag: string | undefined): ReturnType<typeof parseInterfaces> {
  const v = flag ?? env('INTERFACE', 'NETWORK_INTERFACE');
  const from = flag !== undefined ? '-i/--iface' : v !== undefined ? (process.env.INTERFACE ? 'INTERFACE' : 'NETWORK_INTERFACE') : '';
  if (v !== undefined) return parseInterfaces(v, from);
  const def = defaultRouteInterface();
  if (!def)
    throw usageError(`-i/--iface: no default-route interface found; name one (available: ${listInterfaces().map((i) => i.name).join(', ')})`);
  return parseInterfaces(def, 'default route');
}

interface XdpFlags {
  iface?: string;
  xdpMode: string;
  ingressHook: string;
  interval?: string;
  top: string;
  output: string;
  watchIp?: string;
  packets?: boolean;
  protocol: string;
  srcIp?: string;
  dstIp?: string;
  srcPort?: string;
  dstPort?: string;
  rateLimit: string;
  maxFlows: string;
  readyFile?: string;
  verbose?: boolean;
  metricsListen?: string;
  containers: string;
}

interface RdmaFlags {
  device?: string;
  port?: string;
  interval?: string;
  output: string;
  list?: boolean;
  errorThreshold: string;
  sysfsRoot?: string;
  procRoot?: string;
  readyFile?: string;
  imbalanceRatio?: string;
  minGbps?: string;
  metricsListen?: string;
}

function program(): Command {
  const p = new Command('xtrace')
    .description('eBPF network traffic monitor and controller for Linux')
    .version('0.1.0')
    .option('-l, --list', 'list network interfaces (same as `xtrace interfaces`)')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  p.configureOutput({ writeErr: (s) => process.stderr.write(s) });

  p.command('xdp')
    .description('count every packet per flow and per watched IP (XDP ingress, TC egress); optional live packet log')
    .option('-i, --iface <names>', 'interfaces, comma-separated (env INTERFACE or NETWORK_INTERFACE; default: the default-route interface)')
    .addOption(new Option('--ingress-hook <hook>', 'where ingress is counted: xdp, tc, or auto (xdp; tc on veth)').choices(['auto', 'xdp', 'tc']).default('auto'))
    .addOption(new Option('--xdp-mode <mode>', 'XDP attach mode: auto tries native then generic; native or generic only').choices(['auto', 'native', 'generic']).default('auto'))
    .option('--interval <ms>', `report interval in ms, ${INTERVAL_MIN}..${INTERVAL_MAX}, or 500ms/5s/1m (env INTERVAL)`, undefined)
    .option('--top <n>', 'flows shown per interval, 0 for all', '20')
    .addOption(new Option('-o, --output <format>', 'table | json (one object a line) | text').default('table'))
    .option('-w, --watch-ip <ips>', 'IPs or CIDRs to count in/out, comma-separated (env TARGET_IP)')
    .option('-p, --packets', 'log every matching packet (filters and rate limit run in the kernel)')
    .option('--protocol <p>', `packet-log protocol filter: ${PROTOCOLS.join('|')} (comma-separated)`, 'all')
    .option('--src-ip <ip>', 'packet-log filter: source IP or CIDR')
    .option('--dst-ip <ip>', 'packet-log filter: destination IP or CIDR')
    .option('--src-port <port>', 'packet-log filter: source port')
    .option('--dst-port <port>', 'packet-log filter: destination port')
    .option('--rate-limit <n>', 'packet-log events per second, K/M suffix allowed, 0 = unlimited; the rest are counted as suppressed', '10000')
    .option('--max-flows <n>', 'flow table size (LRU; evictions are counted)', '65536')
    .option('--metrics-listen <addr>', 'serve Prometheus metrics at http://[host]:port/metrics, e.g. :9436')
    .addOption(new Option('--containers <when>', 'label flows and watched IPs with the Docker container owning the address (auto: when the Docker socket exists)').choices(['auto', 'on', 'off']).default('auto'))
    .option('--ready-file <path>', 'written once every program is attached')
    .option('-v, --verbose', 'debug logs, and the verifier log when a load fails')
    .action(async (f: XdpFlags) => {
      if (f.verbose) setVerbose(true);
      const intervalRaw = f.interval ?? env('INTERVAL');
      const watchRaw = f.watchIp ?? env('TARGET_IP');
      const opts = {
        ifaces: resolveIfaces(f.iface),
        xdpMode: f.xdpMode as 'auto' | 'native' | 'generic',
        ingressHook: f.ingressHook as 'auto' | 'xdp' | 'tc',
        intervalMs: intervalRaw === undefined ? 5000 : parseInterval(intervalRaw, f.interval !== undefined ? '--interval' : 'INTERVAL'),
        top: parseInteger(f.top, '--top', 0, 1_000_000),
        output: parseChoice(f.output, '-o/--output', ['table', 'json', 'text'] as const),
        watch: watchRaw === undefined ? [] : parseNetList(watchRaw, f.watchIp !== undefined ? '--watch-ip' : 'TARGET_IP'),
        packets: Boolean(f.packets),
        protocols: parseProtocols(f.protocol),
        srcNet: f.srcIp === undefined ? undefined : parseSingleNet(f.srcIp, '--src-ip'),
        dstNet: f.dstIp === undefined ? undefined : parseSingleNet(f.dstIp, '--dst-ip'),
        srcPort: f.srcPort === undefined ? undefined : parsePort(f.srcPort, '--src-port'),
        dstPort: f.dstPort === undefined ? undefined : parsePort(f.dstPort, '--dst-port'),
        rateLimit: parseRate(f.rateLimit, '--rate-limit', 100_000_000),
        maxFlows: parseInteger(f.maxFlows, '--max-flows', 16, 16_777_216),
        readyFile: f.readyFile,
        metricsListen: f.metricsListen === undefined ? undefined : parseListen(f.metricsListen, '--metrics-listen'),
        containers: f.containers as 'auto' | 'on' | 'off',
      };
      const filters = opts.srcNet || opts.dstNet || opts.srcPort || opts.dstPort || f.protocol !== 'all';
      if (filters && !opts.packets) log.warn('--protocol/--src-ip/--dst-ip/--src-port/--dst-port filter the packet log; add -p/--packets to see it');
      const { runXdp } = await import('./modes/xdp/index.js');
      await runXdp(opts);
    });

  for (const view of ['rdma', 'nccl'] as const) {
    const c = p
      .command(view)
      .description(
        view === 'rdma'
          ? 'RDMA (mlx5) port counters from sysfs as rates and per-interval deltas, with each port\'s net device statistics'
          : 'per-rail view for NCCL jobs: bandwidth, congestion, retransmission, link health, processes, imbalance',
      )
      .option('-d, --device <name>', 'one RDMA device, e.g. mlx5_0 (env DEVICE; default: all)')
      .option('--port <n>', 'one port number (from 1)')
      .option('--interval <ms>', `report interval in ms, ${INTERVAL_MIN}..${INTERVAL_MAX}, or 500ms/5s/1m (env INTERVAL)`)
      .addOption(new Option('-o, --output <format>', 'table | json (one object a line) | text').default('table'))
      .option('--list', 'list devices and ports with their net devices (ibdev2netdev) and exit')
      .option('--error-threshold <n>', 'highlight an error counter whose interval delta exceeds n', '0')
      .option('--sysfs-root <dir>', 'directory standing for /sys (env XTRACE_SYSFS_ROOT)')
      .option('--proc-root <dir>', 'directory standing for /proc (env XTRACE_PROC_ROOT)')
      .option('--metrics-listen <addr>', 'serve Prometheus metrics (node_exporter names) at http://[host]:port/metrics, e.g. :9435')
      .option('--ready-file <path>', 'written once the first counters are read');
    if (view === 'nccl')
      c.option('--imbalance-ratio <r>', 'flag a rail carrying less than r times the busiest rail', '0.5').option(
        '--min-gbps <g>',
        'judge balance only when the busiest rail carries at least g Gbit/s (TX+RX)',
        '1',
      );
    c.action(async (f: RdmaFlags) => {
      const intervalRaw = f.interval ?? env('INTERVAL');
      const ratio = Number(f.imbalanceRatio ?? '0.5');
      if (!(ratio > 0 && ratio <= 1)) throw usageError(`--imbalance-ratio: expected a number in (0, 1], got '${f.imbalanceRatio}'`);
      const minGbps = Number(f.minGbps ?? '1');
      if (!(minGbps >= 0)) throw usageError(`--min-gbps: expected a number of Gbit/s >= 0, got '${f.minGbps}'`);
      const opts = {
        view,
        roots: { sys: f.sysfsRoot ?? env('XTRACE_SYSFS_ROOT') ?? '/sys', proc: f.procRoot ?? env('XTRACE_PROC_ROOT') ?? '/proc' },
        device: f.device ?? env('DEVICE'),
        port: f.port === undefined ? undefined : parseInteger(f.port, '--port', 1, 255),
        intervalMs: intervalRaw === undefined ? 5000 : parseInterval(intervalRaw, f.interval !== undefined ? '--interval' : 'INTERVAL'),
        output: parseChoice(f.output, '-o/--output', ['table', 'json', 'text'] as const),
        list: Boolean(f.list),
        thresholds: { imbalanceRatio: ratio, minGbps, errorThreshold: parseInteger(f.errorThreshold, '--error-threshold', 0, Number.MAX_SAFE_INTEGER) },
        readyFile: f.readyFile,
        metricsListen: f.metricsListen === undefined ? undefined : parseListen(f.metricsListen, '--metrics-listen'),
      };
      const { runRdma } = await import('./modes/rdma/index.js');
      await runRdma(opts);
    });
  }

  const dockerCmd = p.command('docker').description('drive the xtrace appliance container through the Docker Engine API (no compose needed)');
  dockerCmd
    .command('up')
    .description('start the appliance container (host network and PID, eBPF capabilities, restart unless stopped)')
    .option('--mode <mode>', 'xdp | rdma | nccl (env MODE)')
    .option('-i, --iface <names>', 'INTERFACE for the container (env INTERFACE)')
    .option('-d, --device <name>', 'DEVICE for rdma/nccl (env DEVICE)')
    .option('-w, --target-ip <ips>', 'TARGET_IP (env TARGET_IP)')
    .option('--interval <ms>', 'INTERVAL (env INTERVAL)')
    .option('--args <flags>', 'more xtrace flags, XTRACE_ARGS (env XTRACE_ARGS)')
    .option('--image <ref>', 'image', 'xtrace:latest')
    .option('--name <name>', 'container name', 'xtrace')
    .action(async (f: { mode?: string; iface?: string; device?: string; targetIp?: string; interval?: string; args?: string; image: string; name: string }) => {
      const mode = parseChoice(f.mode ?? env('MODE') ?? 'xdp', '--mode', ['xdp', 'rdma', 'nccl'] as const);
      const interval = f.interval ?? env('INTERVAL');
      if (interval !== undefined) parseInterval(interval, '--interval');
      const vars: Record<string, string | undefined> = {
        INTERFACE: f.iface ?? env('INTERFACE', 'NETWORK_INTERFACE'),
        DEVICE: f.device ?? env('DEVICE'),
        TARGET_IP: f.targetIp ?? env('TARGET_IP'),
        INTERVAL: interval,
        XTRACE_ARGS: f.args ?? env('XTRACE_ARGS'),
      };
      const d = await import('./docker/index.js');
      const id = await d.up(d.connect(), {
        name: f.name,
        image: f.image,
        mode,
        env: Object.fromEntries(Object.entries(vars).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')),
      });
      process.stdout.write(`started ${f.name} (${id.slice(0, 12)}), mode ${mode}; output: xtrace docker logs -f\n`);
    });
  dockerCmd
    .command('down')
    .description('stop (SIGTERM: programs detach, a summary is printed) and remove the appliance container')
    .option('--name <name>', 'container name', 'xtrace')
    .action(async (f: { name: string }) => {
      const d = await import('./docker/index.js');
      process.stdout.write((await d.down(d.connect(), f.name)) ? `removed ${f.name}\n` : `${f.name}: no such container\n`);
    });
  dockerCmd
    .command('status')
    .description('state of the appliance container')
    .option('--name <name>', 'container name', 'xtrace')
    .addOption(new Option('-o, --output <format>', 'text | json').choices(['text', 'json']).default('text'))
    .action(async (f: { name: string; output: string }) => {
      const d = await import('./docker/index.js');
      const s = await d.status(d.connect(), f.name);
      if (f.output === 'json') process.stdout.write(JSON.stringify({ type: 'docker_status', ...(s ?? { name: f.name, state: 'absent', running: false }) }) + '\n');
      else process.stdout.write(s ? `${s.name}: ${s.state}${s.running ? ` since ${s.started_at}` : ` (exit ${s.exit_code})`}, mode ${s.mode ?? '?'}, image ${s.image}\n` : `${f.name}: absent\n`);
      if (!s?.running) process.exitCode = 1;
    });
  dockerCmd
    .command('logs')
    .description("the appliance container's output (records on stdout, logs on stderr)")
    .option('--name <name>', 'container name', 'xtrace')
    .option('-f, --follow', 'keep following')
    .action(async (f: { name: string; follow?: boolean }) => {
      const d = await import('./docker/index.js');
      await d.logs(d.connect(), f.name, Boolean(f.follow), process.stdout, process.stderr);
    });

  p.command('build-bpf')
    .description('rebuild the kernel programs with clang (for an unusual kernel; the image keeps clang for this)')
    .option('--src <dir>', 'directory of *.bpf.c', 'bpf')
    .option('--out <dir>', 'output directory (env XTRACE_BPF_DIR)')
    .action(async (f: { src: string; out?: string }) => {
      const { buildBpf } = await import('./bpf/build.js');
      for (const o of await buildBpf(f.src, f.out ?? env('XTRACE_BPF_DIR') ?? 'build/bpf')) process.stdout.write(`built ${o}\n`);
    });

  p.command('interfaces')
    .description('list network interfaces: index, state, addresses, attached XDP/TC programs')
    .addOption(new Option('-o, --output <format>', 'table | json').choices(['table', 'json']).default('table'))
    .action(async (f: { output: string }) => listIfaces(f.output));

  p.command('probe')
    .description('what this kernel and libbpf support, as xtrace uses it (program and map types, BTF, kprobes)')
    .addOption(new Option('-o, --output <format>', 'table | json').choices(['table', 'json']).default('table'))
    .action(async (f: { output: string }) => {
      const { allProbes } = await import('./bpf/probe.js');
      const { columns } = await import('./output/human.js');
      const rs = allProbes();
      process.stdout.write(
        f.output === 'json'
          ? rs.map((r) => JSON.stringify({ type: 'probe', ...r })).join('\n') + '\n'
          : columns(['FEATURE', 'STATUS', 'DETAIL'], rs.map((r) => [r.name, r.status, r.detail]), new Set()) + '\n',
      );
    });

  p.action(async (f: { list?: boolean }) => {
    if (f.list) return listIfaces('table');
    p.outputHelp();
  });
  return p;
}

async function listIfaces(output: string): Promise<void> {
  const { collectInterfaces, renderInterfaces } = await import('./modes/interfaces/index.js');
  const rs = await collectInterfaces(defaultRouteInterface());
  process.stdout.write(output === 'json' ? rs.map((r) => JSON.stringify(r)).join('\n') + '\n' : renderInterfaces(rs));
}

async function main(): Promise<number> {
  try {
    const p = program();
    let args = process.argv.slice(2);
    const mode = env('MODE');
    // MODE picks the subcommand when none is given (the container's entrypoint relies on it).
    if (mode && !args.some((a) => p.commands.some((c) => c.name() === a)) && !args.some((a) => ['-h', '--help', '-V', '--version', '-l', '--list'].includes(a))) {
      if (!p.commands.some((c) => c.name() === mode)) throw usageError(`MODE: expected one of ${p.commands.map((c) => c.name()).join('|')}, got '${mode}'`);
      args = [mode, ...args];
    }
    await p.parseAsync(args, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK; // a command may set it (docker status)
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE; // commander already printed its one line
    }
    if (e instanceof XtError) {
      process.stderr.write(`xtrace: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`xtrace: unexpected failure: ${(e as Error).stack ?? String(e)}\n`);
    return EXIT.FAILURE;
  }
}

process.exitCode = await main();
