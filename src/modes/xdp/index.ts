/** xdp mode: options -> load -> attach (XDP ingress, TC egress on each interface) -> collect -> records. */
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { attachSlots } from '../../bpf/hooks.js';
import { MapDumper, lookup, perCpuStride, possibleCpus, sumPerCpu, u64Words, update } from '../../bpf/maps.js';
import { BpfObject } from '../../bpf/object.js';
import { EXIT, usageError } from '../../errors.js';
import { WriteError } from '../../capture/pcapng.js';
import { compileFilter } from '../../capture/cbpf.js';
import { FlowSeries, flowMetrics } from '../../export/xdp.js';
import { log } from '../../log.js';
import { type Iface, type Net, listInterfaces } from '../../options/index.js';
import type { Resolved } from '../../options/spec.js';
import { makeEventJson, packetRecord } from './eventjson.js';
import { makeSink } from '../../output/xdp.js';
import { onStdoutDrained, stdoutCongested } from '../../output/stdout.js';
import type { Counters, FlowRecord, FlowTuple, IfaceCounters, IpRecord, StatsRecord, SummaryRecord } from '../../records/index.js';
import type { wallClock } from '../common.js';
import { type Ended, EXIT_DRAIN_MS, Session } from '../session.js';
import { xdpSlots } from './slots.js';
import { decodeEvent, decodeFlowKey, encodeLpmKey, protoName, sumFlowValues, sumIpValues } from './codec.js';
import { captureRingBytes, openFlowObject } from './object.js';
import { STAT, XT_MAX_IFACES, XT_MAX_WATCH } from './layout.js';
import { combinedFilter, flagNames } from './sugar.js';
import { Capture } from './capture.js';
import { tcpFlagNames } from '../../records/index.js';
import type { XDP_OPTIONS } from './options.js';

export type XdpOptions = Resolved<typeof XDP_OPTIONS>;
type IngressHook = XdpOptions['ingressHook'];


interface Prev {
  packets: bigint;
  bytes: bigint;
}

/** One report's worth: flows (busiest first), watched IPs, counters, and which flows moved since the last one. */
export interface Collected {
  flows: FlowRecord[];
  changed: Set<FlowRecord>;
  ips: IpRecord[];
  counters: Counters;
}

const IFACE_STATS: ReadonlyArray<[keyof IfaceCounters, number]> = [
  ['rx_packets', STAT.XT_STAT_RX_PACKETS],
  ['rx_bytes', STAT.XT_STAT_RX_BYTES],
  ['tx_packets', STAT.XT_STAT_TX_PACKETS],
  ['tx_bytes', STAT.XT_STAT_TX_BYTES],
  ['non_ip_packets', STAT.XT_STAT_NON_IP],
  ['fragments', STAT.XT_STAT_FRAGMENTS],
  ['truncated', STAT.XT_STAT_TRUNCATED],
  ['filter_passed', STAT.XT_STAT_FILTERED],
  ['captured', STAT.XT_STAT_CAP_SENT],
  ['capture_dropped', STAT.XT_STAT_CAP_DROPPED],
];

/** Reads the maps and turns them into records; keeps the previous snapshot for rates. */
class Collector {
  private prev = new Map<string, Prev>();
  private prevAt = process.hrtime.bigint();
  /** never decreases: exported as a counter */
  private evicted = 0;
  private readonly flowDump;
  private readonly cpus = possibleCpus();
  private readonly statsBuf;
  private readonly ipBuf;
  private readonly names: Map<number, string>;

  constructor(
    private readonly obj: BpfObject,
    private readonly opts: XdpOptions & { watch: NonNullable<XdpOptions['watch']> },
    /** turns bpf_ktime_get_ns() into a time of day */
    private readonly clock: ReturnType<typeof wallClock>,
  ) {
    this.flowDump = new MapDumper(obj.map('flows'), true);
    this.statsBuf = Buffer.alloc(perCpuStride(obj.map('stats').valueSize));
    this.ipBuf = Buffer.alloc(perCpuStride(obj.map('watch_stats').valueSize));
    this.names = new Map(opts.ifaces.map((i) => [i.ifindex, i.name]));
  }

  wallTime(monoNs: bigint): string {
    return this.clock.iso(monoNs);
  }

  ifname(ifindex: number): string {
    return this.names.get(ifindex) ?? `if${ifindex}`;
  }

  /** One `stats` slot (an interface's, in --iface order; the last for any other), summed over CPUs. */
  private slot(i: number): number[] {
    const m = this.obj.map('stats');
    const key = Buffer.alloc(4);
    key.writeUInt32LE(i);
    lookup(m, key, this.statsBuf);
    return sumPerCpu(this.statsBuf, 0, m.valueSize, u64Words(0, STAT.XT_STAT_MAX)).map(Number);
  }

  /**
   * The kernel's counters. Read before the flow table is dumped: flows created during the dump are then
   * in the table but not yet in `created`, so created - entries can only under-estimate evictions, and
   * the count kept never goes down.
   */
  private readStats(): (flowCount: number) => Counters {
    const slots = [...this.opts.ifaces.map((_, i) => this.slot(i)), this.slot(XT_MAX_IFACES)];
    const total = slots.reduce((a, v) => a.map((x, j) => x + v[j]!));
    const ifaces: Record<string, IfaceCounters> = {};
    this.opts.ifaces.forEach((iface, i) => {
      ifaces[iface.name] = Object.fromEntries(IFACE_STATS.map(([k, j]) => [k, slots[i]![j]!])) as unknown as IfaceCounters;
    });
    return (flowCount) => this.counters(total, flowCount, ifaces);
  }

  private counters(v: number[], flowCount: number, ifaces: Record<string, IfaceCounters>): Counters {
    const s = (i: number): number => v[i]!;
    const created = s(STAT.XT_STAT_FLOWS_CREATED);
    this.evicted = Math.max(this.evicted, created - flowCount);
    return {
      rx_packets: s(STAT.XT_STAT_RX_PACKETS),
      rx_bytes: s(STAT.XT_STAT_RX_BYTES),
      tx_packets: s(STAT.XT_STAT_TX_PACKETS),
      tx_bytes: s(STAT.XT_STAT_TX_BYTES),
      non_ip_packets: s(STAT.XT_STAT_NON_IP),
      fragments: s(STAT.XT_STAT_FRAGMENTS),
      truncated: s(STAT.XT_STAT_TRUNCATED),
      filter_passed: s(STAT.XT_STAT_FILTERED),
      captured: s(STAT.XT_STAT_CAP_SENT),
      capture_dropped: s(STAT.XT_STAT_CAP_DROPPED),
      flows: flowCount,
      flows_created: created,
      flows_evicted: this.evicted,
      flow_insert_failed: s(STAT.XT_STAT_FLOW_FAILED),
      events_sent: s(STAT.XT_STAT_EV_SENT),
      events_suppressed: s(STAT.XT_STAT_EV_SUPPRESSED),
      events_lost: s(STAT.XT_STAT_EV_DROPPED),
      ifaces,
    };
  }

  collect(): Collected {
    const stats = this.readStats();
    const now = process.hrtime.bigint();
    const dt = Number(now - this.prevAt) / 1e9 || 1e-9;
    const ts = new Date().toISOString();
    const next = new Map<string, Prev>();
    const flows: FlowRecord[] = [];
    const changed = new Set<FlowRecord>();
    const ks = this.obj.map('flows').keySize;
    const stride = this.flowDump.valueStride;
    this.flowDump.dump((keys, values, n) => {
      for (let i = 0; i < n; i++) {
        const id = keys.toString('latin1', i * ks, (i + 1) * ks);
        if (next.has(id)) continue; // a batch read can revisit a key that moved buckets
        const t = sumFlowValues(values, i * stride, this.cpus);
        const k = decodeFlowKey(keys, i * ks);
        // A flow evicted and seen again starts from zero: a lower count than last time is a reset.
        const p0 = this.prev.get(id);
        const p = p0 && p0.packets <= t.packets && p0.bytes <= t.bytes ? p0 : undefined;
        next.set(id, { packets: t.packets, bytes: t.bytes });
        const f: FlowRecord = {
          type: 'flow',
          ts,
          ...tupleOf(this.ifname(k.ifindex), protoName(k.kind, k.proto), k),
          packets: Number(t.packets),
          bytes: Number(t.bytes),
          pps_rate: round2(Number(t.packets - (p?.packets ?? 0n)) / dt),
          bps_rate: round2((Number(t.bytes - (p?.bytes ?? 0n)) * 8) / dt),
          first_seen: this.wallTime(t.firstNs),
          last_seen: this.wallTime(t.lastNs),
          ...(k.kind === 0 && k.proto === 6 ? { tcp_flags: tcpFlagNames(t.tcpFlags) } : {}),
        };
        flows.push(f);
        if (!p || p.packets !== t.packets) changed.add(f);
      }
    });
    this.prev = next;
    this.prevAt = now;
    const ips: IpRecord[] = this.opts.watch.map((net, slot) => {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(slot);
      lookup(this.obj.map('watch_stats'), key, this.ipBuf);
      return { type: 'ip', ts, ip: net.text, ...sumIpValues(this.ipBuf) };
    });
    flows.sort((a, b) => b.bps_rate - a.bps_rate || b.bytes - a.bytes || b.packets - a.packets);
    return { flows, changed, ips, counters: stats(next.size) };
  }
}

/** The final report ranks flows by what they carried over the whole run, with rates over the run. */
export function summaryFlows(flows: FlowRecord[], durationS: number): FlowRecord[] {
  const d = durationS > 0 ? durationS : 1e-9;
  return flows
    .map((f) => ({ ...f, pps_rate: round2(f.packets / d), bps_rate: round2((f.bytes * 8) / d) }))
    .sort((a, b) => b.bytes - a.bytes || b.packets - a.packets);
}

/** Interfaces among `ifaces` that no longer exist (deleted, or moved to another namespace). */
function vanishedOf(ifaces: readonly Iface[]): Iface[] {
  const present = new Set(listInterfaces().map((i) => i.ifindex));
  return ifaces.filter((i) => !present.has(i.ifindex));
}

/** Warns when the flow table evicts: at once, then at most once a minute while it goes on. */
function evictionWarner(maxFlows: number): (c: Counters) => void {
  let seen = 0;
  let warnedAt = -Infinity;
  let sinceWarn = 0;
  return (c) => {
    const fresh = c.flows_evicted - seen;
    seen = c.flows_evicted;
    if (fresh <= 0) return;
    sinceWarn += fresh;
    const now = performance.now();
    if (now - warnedAt < 60_000) return;
    log.warn(`flow table full: ${sinceWarn} flows evicted${warnedAt === -Infinity ? '' : ' in the last minute'} (${c.flows_evicted} in all); raise --max-flows (now ${maxFlows}) to keep them`);
    warnedAt = now;
    sinceWarn = 0;
  };
}

/**
 * -w without -p: how often the capture ring is read when the kernel has not woken the reader (it wakes
 * it at a quarter full). A packet reaches a file within CAPTURE_TICK_MS, as tcpdump's buffered -w holds
 * its packets a while; stdout (-w - into Wireshark or tshark) within CAPTURE_PIPE_TICK_MS, as tcpdump
 * -U would. Each read is a wakeup of the process, which costs more than the packets of a quiet link.
 */
export const CAPTURE_TICK_MS = 500;
export const CAPTURE_PIPE_TICK_MS = 100;

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** The flow tuple of a decoded flow key or packet event, VLAN and ICMP type/code where they apply. */
function tupleOf(iface: string, proto: FlowTuple['proto'], x: Omit<FlowTuple, 'iface' | 'proto' | 'vlan' | 'icmp_type' | 'icmp_code'> & { vlan: number; icmp?: { type: number; code: number } }): FlowTuple {
  return {
    iface,
    dir: x.dir,
    proto,
    src: x.src,
    sport: x.sport,
    dst: x.dst,
    dport: x.dport,
    ...(x.vlan ? { vlan: x.vlan } : {}),
    ...(x.icmp ? { icmp_type: x.icmp.type, icmp_code: x.icmp.code } : {}),
  };
}

/** Container names for flow addresses, refreshed in the background each interval. */
async function containerLabeller(want: XdpOptions['containers']): Promise<{ refresh(): void; apply(f: FlowRecord[], i: IpRecord[]): void } | null> {
  if (want === 'off') return null;
  const docker = await import('../../docker/index.js');
  if (want === 'auto' && !existsSync(docker.SOCKET)) return null;
  const d = docker.connect();
  let map = new Map<string, string>();
  let busy = false;
  const refresh = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      map = await docker.containerAddresses(d, process.env.XTRACE_PROC_ROOT ?? '/proc');
    } catch (e) {
      log.debug(`containers: ${(e as Error).message}`);
    } finally {
      busy = false;
    }
  };
  await refresh();
  log.info(`labelling flows with container names (${map.size} container addresses known)`);
  return {
    refresh: () => void refresh(),
    apply: (flows, ips) => {
      for (const f of flows) {
        const s = map.get(f.src);
        const t = map.get(f.dst);
        if (s) f.src_container = s;
        if (t) f.dst_container = t;
      }
      for (const r of ips) {
        const c = map.get(r.ip);
        if (c) r.container = c;
      }
    },
  };
}

/** The rtnetlink kind of a device ("veth", "vlan", ...; null for a physical one). */
async function linkKind(name: string): Promise<string | null> {
  try {
    const r = await promisify(execFile)('ip', ['-j', '-d', 'link', 'show', 'dev', name], { encoding: 'utf8' });
    return (JSON.parse(r.stdout) as Array<{ linkinfo?: { info_kind?: string } }>)[0]?.linkinfo?.info_kind ?? null;
  } catch {
    return null;
  }
}

/**
 * auto: XDP, except on veth, where native XDP turns off the peer's GSO (TCP to a quarter of its
 * throughput in bench/) and generic XDP counts a GSO packet as one frame; TC sees gso_segs.
 */
async function ingressHookFor(i: Iface, want: IngressHook, xdpMode: XdpOptions['xdpMode']): Promise<'xdp' | 'tc'> {
  let hook: 'xdp' | 'tc' = want === 'auto' ? 'xdp' : want;
  if (want === 'auto' && (await linkKind(i.name)) === 'veth') {
    log.info(`${i.name}: veth, so ingress is counted at TC (XDP on veth slows the peer and merges GSO packets); --ingress-hook xdp to override`);
    hook = 'tc';
  }
  if (hook === 'tc' && xdpMode !== 'auto') log.warn(`${i.name}: --xdp-mode ${xdpMode} has no effect: ingress is counted at TC, not XDP`);
  return hook;
}

/** Says so when a value given was adjusted rather than taken as written. */
function noteAdjusted(opts: XdpOptions): void {
  const nets: Array<[string, Net | undefined]> = [
    ...(opts.watch ?? []).map((n): [string, Net] => ['--watch-ip', n]),
    ['--src-ip', opts.srcNet],
    ['--dst-ip', opts.dstNet],
  ];
  for (const [flag, n] of nets) if (n?.given) log.info(`${flag}: ${n.given} has host bits set; it stands for the network ${n.text}`);
}

export async function runXdp(opts: XdpOptions): Promise<void> {
  const session = new Session('xdp', { bpf: true });
  await session.run(opts, async (metrics) => {
    const watch = opts.watch ?? [];
    if (watch.length > XT_MAX_WATCH) throw usageError(`--watch-ip: at most ${XT_MAX_WATCH} addresses or CIDRs, got ${watch.length}`);
    noteAdjusted(opts);
    // the expression and the file before anything is loaded: libpcap's refusal, or a path that cannot be written, is bad input
    const expr = combinedFilter(opts);
    const classic = expr ? compileFilter(expr, [...(opts.filter ? ['--filter'] : []), ...flagNames(opts)].join(', ')) : null;
    if (expr && expr !== opts.filter) log.info(`filter: ${expr}`);
    const capture = opts.write ? Capture.open(opts.write, opts.ifaces, opts.snaplen) : null;
    if (capture) session.own(() => capture.close());
    const hooks = [];
    for (const iface of opts.ifaces) hooks.push({ iface, ingress: await ingressHookFor(iface, opts.ingressHook, opts.xdpMode) });
    const ringBytes = captureRingBytes(opts.bufferKiB);
    if (capture && ringBytes !== opts.bufferKiB * 1024) log.info(`-B/--buffer-size: ${opts.bufferKiB} KiB rounded up to ${ringBytes / 1024} KiB (a BPF ring buffer is a power of two)`);
    const settings = { watchCount: watch.length, rateLimit: opts.rateLimit, log: opts.packets, ifindexes: opts.ifaces.map((i) => i.ifindex), classic, snaplen: capture ? opts.snaplen : null, ringBytes, maxFlows: opts.maxFlows };
    const attached = attachSlots('xdp', xdpSlots(hooks, opts.xdpMode), () => openFlowObject(settings), (obj) => {
      // the watched IPs are in the map before any packet is counted, the capture's clock before any is captured
      watch.forEach((net, slot) => {
        const v = Buffer.alloc(4);
        v.writeUInt32LE(slot);
        update(obj.map('watch'), encodeLpmKey(net), v);
      });
      if (capture) update(obj.map('cap_clock'), Buffer.alloc(4), Capture.clockValue(16));
    });
    const { obj } = attached;
    session.own(() => obj.close());
    session.attach(...attached.links);
    for (const c of attached.choices) {
      if (c.kind !== 'xdp/generic') continue;
      const iface = c.slot.split('/')[0]!;
      const native = c.tried.find((t) => t.hook.startsWith('xdp/native:'));
      if (native?.outcome === 'refused') log.info(`${iface}: native XDP not available (${native.reason}), falling back to generic XDP`);
      log.warn(`${iface}: generic XDP counts a GRO/GSO packet as one frame (bytes with one set of headers); --ingress-hook tc counts wire frames`);
    }

    const { clock } = session;
    const collector = new Collector(obj, { ...opts, watch }, clock);
    // -w -: stdout carries the capture; records and tables stay off it
    const sink = opts.write === '-' ? makeSink(opts.output, () => undefined) : makeSink(opts.output);

    let captureFailed: (() => void) | null = null;
    const writeFailure = new Promise<Ended>((r) => (captureFailed = () => r({ why: 'write failed', say: 'the capture cannot be written', summary: false })));
    let writeError: WriteError | null = null;
    const failCapture = (e: WriteError): void => {
      writeError ??= e;
      captureFailed?.();
    };
    if (capture) {
      const packets = obj.map('packets');
      // -w alone: no reads but the batches the kernel wakes the reader for, and one each CAPTURE_TICK_MS (the file's delay bound)
      const clockMap = obj.map('cap_clock');
      session.rings(opts.packets ? undefined : opts.write === '-' ? CAPTURE_PIPE_TICK_MS : CAPTURE_TICK_MS).add(capture.ring(packets.fd, packets.maxEntries, failCapture, (v) => update(clockMap, Buffer.alloc(4), v)));
    }
    if (opts.packets) {
      const events = obj.map('events');
      const line = sink.line;
      const eventJson = line ? makeEventJson((ns) => clock.iso(ns), (ix) => collector.ifname(ix)) : null;
      session.rings().add({
        fd: events.fd,
        size: events.maxEntries,
        name: 'events',
        // the lines go to stdout (with -w -, nowhere): a reader behind holds the ring, the kernel counts the rest lost
        ...(opts.write === '-' ? {} : { blocked: stdoutCongested, whenUnblocked: onStdoutDrained }),
        onRecord: (dv, off) => {
          if (eventJson) return line!(eventJson(dv, off));
          const e = decodeEvent(dv, off);
          sink.event(packetRecord(e, collector.wallTime(e.tsNs), collector.ifname(e.ifindex)));
        },
      });
    }
    if (opts.packets || capture) session.rings().start();

    const flowSeries = new FlowSeries(opts.metricsMaxFlows);
    const exportFlows = (flows: FlowRecord[], ips: IpRecord[], counters: Counters): void => {
      if (!metrics) return;
      const chosen = flowSeries.select(flows);
      metrics.records(flowMetrics(chosen.flows, ips, counters, chosen.notExported));
    };
    const labels = await containerLabeller(opts.containers);
    const allKinds = session.attached.map((a) => `${a.target}:${a.kind}`);
    if (metrics) {
      // every series from the first scrape after ready (at zero), not only after the first interval
      const first = collector.collect();
      exportFlows(first.flows, first.ips, first.counters);
    }

    const pick = (flows: FlowRecord[]): FlowRecord[] => (opts.top > 0 ? flows.slice(0, opts.top) : flows);
    const collect = (): Collected => {
      const r = collector.collect();
      labels?.apply(r.flows, r.ips);
      return r;
    };
    const vanished: Iface[] = [];
    let allGone: (() => void) | null = null;
    const everyGone = new Promise<Ended>((r) => (allGone = () => r({ why: 'vanished', say: 'every interface is gone' })));
    /** Interfaces deleted mid-run: say so once, drop their links, go on with the rest. */
    const checkVanished = (): void => {
      const gone = vanishedOf(opts.ifaces.filter((i) => !vanished.includes(i)));
      for (const i of gone) {
        vanished.push(i);
        session.detachWhere((l) => l.target === i.name);
        const left = opts.ifaces.filter((x) => !vanished.includes(x)).map((x) => x.name);
        log.warn(`${i.name} (ifindex ${i.ifindex}) is gone: its hooks went with it; ${left.length ? `counting goes on on ${left.join(', ')}` : 'no interface is left'}`);
      }
      if (vanished.length === opts.ifaces.length) allGone?.();
    };
    const warnEvictions = evictionWarner(opts.maxFlows);
    const flushCapture = (): void => {
      if (!capture || writeError) return;
      try {
        capture.flush();
      } catch (e) {
        if (!(e instanceof WriteError)) throw e;
        failCapture(e);
      }
    };
    return {
      ready: `attached ${allKinds.join(', ')}; every ${opts.intervalMs} ms`,
      ended: Promise.race([everyGone, writeFailure]),
      tick: () => {
        session.rings().drain();
        flushCapture();
        labels?.refresh();
        checkVanished();
        const { flows, changed, ips, counters } = collect();
        const shown = pick(opts.changed ? flows.filter((f) => changed.has(f)) : flows);
        const stats: StatsRecord = { type: 'stats', ts: new Date().toISOString(), ...counters };
        sink.records([stats, ...shown, ...ips]);
        exportFlows(flows, ips, counters);
        warnEvictions(counters);
      },
      onStop: ({ why }) => {
        // -w - into a reader that went away (| head, a closed Wireshark) ends the run as a closed stdout does
        const readerGone = (writeError as WriteError | null)?.code === 'EPIPE' && opts.write === '-';
        if (why === 'vanished' || (why === 'write failed' && !readerGone)) process.exitCode = EXIT.FAILURE;
        if (writeError && !readerGone) log.error((writeError as WriteError).message);
      },
      finish: (_why, unread) => {
        if (unread) log.warn(`${unread} bytes of packet-log events were still unread after ${EXIT_DRAIN_MS} ms at exit (events_unread_bytes in the summary)`);
        const { flows, ips, counters } = collect();
        if (capture) {
          flushCapture();
          if (!writeError) {
            try {
              capture.finish((name) => ({ accepted: counters.ifaces[name]!.filter_passed, dropped: counters.ifaces[name]!.capture_dropped }));
            } catch (e) {
              if (!(e instanceof WriteError)) throw e;
              writeError = e;
            }
          }
          if (writeError) {
            log.error((writeError as WriteError).message);
            process.exitCode = EXIT.FAILURE;
          } else
            log.info(`-w: ${capture.packets} packets written to ${opts.write === '-' ? 'stdout' : opts.write}${counters.capture_dropped ? `; ${counters.capture_dropped} the capture ring had no room for (in the file's statistics)` : ''}`);
        }
        exportFlows(flows, ips, counters); // the last push has the final counts
        const durationS = session.durationS();
        const summary: SummaryRecord = {
          ...session.summaryBase(),
          interfaces: opts.ifaces.map((i) => i.name),
          attached: allKinds.filter((k) => !vanished.some((v) => k.startsWith(`${v.name}:`))),
          vanished: vanished.map((i) => i.name),
          ...counters,
          ...(opts.packets ? { events_unread_bytes: unread } : {}),
        };
        sink.records([...pick(summaryFlows(flows, durationS)), ...ips, summary]);
      },
    };
  });
}
