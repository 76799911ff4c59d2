/**
 * Every command xtrace has: its name, summary, options as data (and how they go together), and a
 * lazily loaded body; a monitoring mode adds its kernel object, hook slots, probe needs and metric
 * names. cli.ts builds commander from this list and nothing else; `xtrace probe` reads the modes'
 * needs from it; the appliance's MODE (entrypoint, `docker up --mode`, compose, the Makefile's
 * docker-up-MODE, all checked by test/unit/registry.test.ts) accepts the entries marked `appliance`.
 */
import type { HookSlot } from '../bpf/hooks.js';
import { output } from '../options/common.js';
import { parseChoice, parseInterval } from '../options/index.js';
import { type Constraints, type Resolved, type Specs, checkConstraints, flag, optional, value } from '../options/spec.js';
import { LIMIT_CONSTRAINTS, LIMIT_OBJECT, LIMIT_OPTIONS } from './limit/options.js';
import type { ModeNeeds } from './needs.js';
import { NCCL_OPTIONS, RDMA_OPTIONS } from './rdma/options.js';
import { STACK_OBJECT, STACK_OPTIONS } from './stack/options.js';
import { XDP_OBJECT, XDP_OPTIONS } from './xdp/options.js';

/** What a monitoring mode is made of besides its options and body. */
export interface ModeSpec {
  /** its folder under src/modes (and the name of its records, output, export and test files): the mode's name unless another mode's */
  folder?: string;
  /** the kernel object it loads from build/bpf (null: it reads sysfs) */
  object: string | null;
  /** the prefixes of the metric names it exports (besides every mode's xtrace_build_info, xtrace_hook_*, xtrace_process_*, xtrace_nodejs_*) */
  metrics: readonly string[];
  /** what it needs of the machine, for `xtrace probe` */
  needs(): Promise<ModeNeeds>;
  /** its hook slots in every plan a run can make (every program they name is in the object, and every program of the object is named) */
  slots?(): Promise<HookSlot[]>;
}

export interface Entry {
  /** ['xdp'], or ['docker', 'up'] for a subcommand */
  path: readonly string[];
  summary: string;
  options: Specs;
  /** words after the options, joined with spaces into this option (e.g. a tcpdump expression into filter) */
  positional?: { name: string; into: string; help: string };
  /** a monitoring mode the appliance can run as MODE */
  appliance: boolean;
  mode?: ModeSpec;
  /** checks the options (constraints, one line and exit 2 for each broken), then runs the body, imported only now */
  run(opts: Record<string, unknown>): Promise<void>;
}

function entry<S extends Specs>(e: {
  path: readonly string[];
  summary: string;
  options: S;
  constraints?: Constraints<S>;
  positional?: { name: string; into: keyof S & string; help: string };
  appliance?: boolean;
  mode?: ModeSpec;
  run: (o: Resolved<S>) => Promise<void>;
}): Entry {
  const { constraints, run, ...rest } = e;
  return {
    appliance: false,
    ...rest,
    run: async (o) => {
      checkConstraints(e.path.join(' '), e.options, constraints, o as Resolved<S>);
      return run(o as Resolved<S>);
    },
  };
}

const container = () => value('--name <name>', 'container name', (v) => v, { default: 'xtrace' });

/** The monitoring modes, in the order --help lists them. */
const MODES: readonly Entry[] = [
  entry({
    path: ['xdp'],
    summary: 'count every packet per flow and per watched IP (XDP or TC ingress, TC egress); optional live packet log',
    options: XDP_OPTIONS,
    positional: { name: '[expression...]', into: 'filter', help: 'a tcpdump filter expression (the same as --filter)' },
    appliance: true,
    mode: {
      object: XDP_OBJECT,
      metrics: ['xtrace_flow', 'xtrace_ip_', 'xtrace_packets_total', 'xtrace_bytes_total', 'xtrace_fragments_total', 'xtrace_non_ip_packets_total', 'xtrace_truncated_packets_total', 'xtrace_packet_log_'],
      needs: async () => (await import('./xdp/needs.js')).XDP_NEEDS(),
      slots: async () => {
        const { xdpSlots } = await import('./xdp/slots.js');
        return xdpSlots([{ iface: { name: 'a', ifindex: 1 }, ingress: 'xdp' }, { iface: { name: 'b', ifindex: 2 }, ingress: 'tc' }], 'auto');
      },
    },
    run: async (o) => (await import('./xdp/index.js')).runXdp(o),
  }),
  entry({
    path: ['stack'],
    summary: 'follow TCP packets through the kernel receive path, stage by stage (seq/ack, drops with reasons, per-stage latency)',
    options: STACK_OPTIONS,
    appliance: true,
    mode: {
      object: STACK_OBJECT,
      metrics: ['xtrace_stack_'],
      needs: async () => (await import('./stack/needs.js')).STACK_NEEDS(),
      slots: async () => [...(await import('./stack/slots.js')).STAGES],
    },
    run: async (o) => (await import('./stack/index.js')).runStack(o),
  }),
  entry({
    path: ['limit'],
    summary: 'hold processes (-p) or a cgroup to a byte rate with a token bucket in the kernel (cgroup_skb or netfilter), egress or ingress',
    options: LIMIT_OPTIONS,
    constraints: LIMIT_CONSTRAINTS,
    appliance: true,
    mode: {
      object: LIMIT_OBJECT,
      metrics: ['xtrace_limit_'],
      needs: async () => (await import('./limit/needs.js')).LIMIT_NEEDS(),
      slots: async () => {
        const { limitSlots } = await import('./limit/slots.js');
        // every plan: each direction, paced or not, processes (with children) or a cgroup
        return [true, false].flatMap((egress) =>
          [true, false].flatMap((pace) =>
            [{ root: '/sys/fs/cgroup', children: true }, null].flatMap((pids) => limitSlots({ hook: 'auto', egress, enforceDir: '/sys/fs/cgroup', pids, pace })),
          ),
        );
      },
    },
    run: async (o) => (await import('./limit/index.js')).runLimit(o),
  }),
  entry({
    path: ['rdma'],
    summary: "RDMA port counters (mlx5, Soft-RoCE, any driver) as rates from the best source a port has, per-interval deltas sorted by the driver's table, net device statistics",
    options: RDMA_OPTIONS,
    appliance: true,
    mode: { object: null, metrics: ['node_infiniband_', 'xtrace_infiniband_', 'xtrace_rdma_'], needs: async () => (await import('./rdma/needs.js')).RDMA_NEEDS() },
    run: async (o) => (await import('./rdma/index.js')).runRdma({ ...o, view: 'rdma', imbalanceRatio: 0.5, minGbps: 1, congestionRate: 1000, pauseRate: 100, discardRate: 1 }),
  }),
  entry({
    path: ['nccl'],
    summary: 'per-rail view for NCCL jobs: bandwidth, congestion, retransmission, PFC pauses, discards, link health, the processes and jobs on each rail, verdicts',
    options: NCCL_OPTIONS,
    appliance: true,
    mode: { folder: 'rdma', object: null, metrics: ['node_infiniband_', 'xtrace_infiniband_', 'xtrace_rdma_'], needs: async () => (await import('./rdma/needs.js')).RDMA_NEEDS() },
    run: async (o) => (await import('./rdma/index.js')).runRdma({ ...o, view: 'nccl' }),
  }),
];

/** The registry entry of a command path (['interfaces'], ['docker', 'up']). */
export function entryOf(path: readonly string[]): Entry {
  const e = REGISTRY.find((x) => x.path.join(' ') === path.join(' '));
  if (!e) throw new Error(`no command ${path.join(' ')}`);
  return e;
}

/** The modes the appliance runs as MODE (the entrypoint and compose pass MODE to the CLI, which checks it here). */
export const applianceModes = (): string[] => MODES.filter((m) => m.appliance).map((m) => m.path[0]!);

/** The monitoring modes (`xtrace probe --mode` takes these). */
export const modeNames = (): string[] => MODES.filter((m) => m.mode).map((m) => m.path[0]!);

/** The monitoring modes' entries, with their names and folders. */
export const modeEntries = (): Array<{ name: string; folder: string; entry: Entry; spec: ModeSpec }> =>
  MODES.filter((m) => m.mode).map((m) => ({ name: m.path[0]!, folder: m.mode!.folder ?? m.path[0]!, entry: m, spec: m.mode! }));

export const REGISTRY: readonly Entry[] = [
  ...MODES,
  entry({
    path: ['interfaces'],
    summary: 'list network interfaces: index, state, addresses, attached XDP/TC programs',
    options: { output: output(['table', 'json'] as const, 'table | json') },
    run: async (o) => (await import('./interfaces/index.js')).runInterfaces(o.output),
  }),
  entry({
    path: ['probe'],
    summary: 'what each mode needs of this kernel, libbpf and machine, probed, with versions (exit 4 when --mode cannot run here)',
    options: {
      output: output(['table', 'json'] as const, 'table | json'),
      mode: optional('-m, --mode <mode>', `only this mode: ${modeNames().join(' | ')}`, (v, from) => parseChoice(v, from, modeNames())),
    },
    run: async (o) => {
      const needs = await Promise.all(MODES.filter((m) => m.mode && (!o.mode || m.path[0] === o.mode)).map(async (m) => ({ mode: m.path[0]!, needs: await m.mode!.needs() })));
      await (await import('./probe/index.js')).runProbe(o.output, needs, o.mode);
    },
  }),
  entry({
    path: ['build-bpf'],
    summary: 'rebuild the kernel programs with clang (for an unusual kernel; the image keeps clang for this)',
    options: {
      src: value('--src <dir>', 'directory of *.bpf.c', (v) => v, { default: 'bpf' }),
      out: value('--out <dir>', 'output directory', (v) => v, { env: ['XTRACE_BPF_DIR'], default: 'build/bpf' }),
    },
    run: async (o) => {
      const { buildBpf } = await import('../bpf/build.js');
      for (const f of await buildBpf(o.src, o.out)) process.stdout.write(`built ${f}\n`);
    },
  }),
  entry({
    path: ['docker', 'up'],
    summary: 'start the appliance container (host network and PID, eBPF capabilities, restart unless stopped)',
    options: {
      mode: value('--mode <mode>', applianceModes().join(' | '), (v, from) => parseChoice(v, from, applianceModes()), { env: ['MODE'], default: 'xdp' }),
      iface: optional('-i, --iface <names>', 'INTERFACE for the container', (v) => v, { env: ['INTERFACE', 'NETWORK_INTERFACE'] }),
      device: optional('-d, --device <name>', 'DEVICE for rdma/nccl', (v) => v, { env: ['DEVICE'] }),
      targetIp: optional('-w, --target-ip <ips>', 'TARGET_IP', (v) => v, { env: ['TARGET_IP'] }),
      interval: optional('--interval <ms>', 'INTERVAL', (v, from) => (parseInterval(v, from), v), { env: ['INTERVAL'] }),
      args: optional('--args <flags>', 'more xtrace flags (XTRACE_ARGS)', (v) => v, { env: ['XTRACE_ARGS'] }),
      image: value('--image <ref>', 'image', (v) => v, { default: 'xtrace:latest' }),
      name: container(),
    },
    run: async (o) => {
      const d = await import('../docker/index.js');
      const vars: Record<string, string | undefined> = { INTERFACE: o.iface, DEVICE: o.device, TARGET_IP: o.targetIp, INTERVAL: o.interval, XTRACE_ARGS: o.args };
      const env = Object.fromEntries(Object.entries(vars).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
      const id = await d.up(d.connect(), { name: o.name, image: o.image, mode: o.mode, env });
      process.stdout.write(`started ${o.name} (${id.slice(0, 12)}), mode ${o.mode}; output: xtrace docker logs -f\n`);
    },
  }),
  entry({
    path: ['docker', 'down'],
    summary: 'stop (SIGTERM: programs detach, a summary is printed) and remove the appliance container',
    options: { name: container() },
    run: async (o) => {
      const d = await import('../docker/index.js');
      process.stdout.write((await d.down(d.connect(), o.name)) ? `removed ${o.name}\n` : `${o.name}: no such container\n`);
    },
  }),
  entry({
    path: ['docker', 'status'],
    summary: 'state of the appliance container (exit 1 when it is not running)',
    options: { name: container(), output: output(['text', 'json'] as const, 'text | json') },
    run: async (o) => {
      const d = await import('../docker/index.js');
      const s = await d.status(d.connect(), o.name);
      if (o.output === 'json') process.stdout.write(JSON.stringify({ type: 'docker_status', ...(s ?? { name: o.name, state: 'absent', running: false }) }) + '\n');
      else process.stdout.write(s ? `${s.name}: ${s.state}${s.running ? ` since ${s.started_at}` : ` (exit ${s.exit_code})`}, mode ${s.mode ?? '?'}, image ${s.image}\n` : `${o.name}: absent\n`);
      if (!s?.running) process.exitCode = 1;
    },
  }),
  entry({
    path: ['docker', 'logs'],
    summary: "the appliance container's output (records on stdout, logs on stderr)",
    options: { name: container(), follow: flag('-f, --follow', 'keep following') },
    run: async (o) => {
      const d = await import('../docker/index.js');
      await d.logs(d.connect(), o.name, o.follow, process.stdout, process.stderr);
    },
  }),
];
