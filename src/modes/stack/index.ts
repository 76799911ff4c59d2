/** stack mode: options -> choose a hook per stage, load, attach -> events and per-stage counters -> records. */
import { kernelEnum } from '../../bpf/btf.js';
import { type Attached, type HookKind, type HookSlot, attachSlots } from '../../bpf/hooks.js';
import { ownNetns } from '../../bpf/netns.js';
import { MapDumper, lookup, perCpuStride, sumU64 } from '../../bpf/maps.js';
import { BpfObject } from '../../bpf/object.js';
import { EXIT, XtError } from '../../errors.js';
import { hookMetrics } from '../../export/metric.js';
import { stackMetrics } from '../../export/stack.js';
import { log } from '../../log.js';
import type { NetnsArg } from '../../options/index.js';
import type { Resolved } from '../../options/spec.js';
import { makeStackSink } from '../../output/stack.js';
import { onStdoutDrained, stdoutCongested } from '../../output/stdout.js';
import type { StackCounters, StackHooksRecord, StackRecord, StackSummaryRecord } from '../../records/index.js';
import { defaultObject } from '../common.js';
import { EXIT_DRAIN_MS, Session } from '../session.js';
import { type StackEvent, encodeStackConfig, decodeStackEvent, sumStageValues } from './codec.js';
import { STACK_STAT, STAGE } from './layout.js';
import { type STACK_OPTIONS, STACK_OBJECT } from './options.js';
import { STAGES, stageFunction } from './slots.js';

export type StackOptions = Resolved<typeof STACK_OPTIONS>;

/** Drop reasons that are a socket's own teardown, not a drop on the way: a healthy connection's close frees them. */
export const TEARDOWN_REASONS: ReadonlySet<string> = new Set(['QUEUE_PURGE', 'SOCKET_CLOSE', 'TCP_CLOSE']);

/** Drop reason numbers -> names, from the running kernel's BTF (enum skb_drop_reason), as the kernel prints them. */
export function dropReasonNames(): (n: number) => string {
  const names = new Map([...kernelEnum('skb_drop_reason')].map(([v, n]) => [v, n.replace(/^SKB_DROP_REASON_/, '')]));
  if (names.size === 0) log.warn('the kernel BTF has no enum skb_drop_reason: drop reasons are shown as numbers');
  return (n) => names.get(n) ?? `reason_${n}`;
}

/**
 * The stages with their netfilter hooks in the namespace asked for (--netns), or xtrace's own: a
 * netfilter hook belongs to one network namespace, the other hooks see them all (and filter in the
 * kernel with --netns).
 */
export function stagesIn(netns: NetnsArg | undefined): HookSlot[] {
  if (!netns) return [...STAGES];
  return STAGES.map((s) => ({ ...s, candidates: s.candidates.map((c) => (c.kind === 'netfilter' ? { ...c, parts: c.parts.map((p) => ({ ...p, target: `${p.target}@${netns.path}` })) } : c)) }));
}

/** Chooses a hook per stage, loads and attaches (shared with `xtrace probe --mode stack`). */
export function attachStages(config: Buffer, netns?: NetnsArg): Attached {
  return attachSlots('stack', stagesIn(netns), () => {
    const obj = BpfObject.open(defaultObject(STACK_OBJECT));
    obj.setSectionData('.rodata', config);
    return obj;
  });
}

/** Whose packets a hook of this kind sees: one namespace for netfilter (or any hook with --netns), else every one. */
export function scopeOf(kind: HookKind | null, netns: NetnsArg | undefined): string | null {
  if (kind === null) return null;
  if (netns) return `net:[${netns.ino}] (--netns ${netns.label})`;
  return kind === 'netfilter' ? `net:[${ownNetns().ino}] (xtrace's)` : 'every network namespace';
}

export function hooksRecord(a: Attached, netns?: NetnsArg): StackHooksRecord {
  return { type: 'stack_hooks', ts: new Date().toISOString(), stages: a.choices.map((c) => ({ stage: c.slot, serves: c.serves, scope: scopeOf(c.kind, netns), tried: c.tried })) };
}

class Counters {
  private readonly stageBuf: Buffer;
  private readonly ctrBuf: Buffer;
  private readonly drops;

  constructor(
    private readonly obj: BpfObject,
    private readonly hooks: Array<string | null>,
    private readonly scopes: Array<string | null>,
    private readonly reasonName: (n: number) => string,
  ) {
    this.stageBuf = Buffer.alloc(perCpuStride(obj.map('stage_stats').valueSize));
    this.ctrBuf = Buffer.alloc(perCpuStride(8));
    this.drops = new MapDumper(obj.map('drop_reasons'), true, 1024);
  }

  read(): StackCounters {
    const key = Buffer.alloc(4);
    const stages = STAGES.map((s, i) => {
      key.writeUInt32LE(s.id);
      this.stageBuf.fill(0);
      lookup(this.obj.map('stage_stats'), key, this.stageBuf);
      const t = sumStageValues(this.stageBuf);
      return { stage: s.name, hook: this.hooks[i] ?? null, scope: this.scopes[i] ?? null, packets: t.packets, latency_count: t.latCount, latency_sum_ns: t.latSumNs, latency_hist: t.hist };
    });
    const ctr = (i: number): number => {
      key.writeUInt32LE(i);
      lookup(this.obj.map('stack_counters'), key, this.ctrBuf);
      return Number(sumU64(this.ctrBuf, 0, 8, 0));
    };
    const drops: Record<string, number> = {};
    const teardown: Record<string, number> = {};
    const stride = this.drops.valueStride;
    this.drops.dump((keys, values, n) => {
      for (let i = 0; i < n; i++) {
        const name = this.reasonName(keys.readUInt32LE(i * 4));
        const into = TEARDOWN_REASONS.has(name) ? teardown : drops;
        into[name] = (into[name] ?? 0) + Number(sumU64(values, i * stride, 8, 0));
      }
    });
    return { stages, drops, teardown, events_sent: ctr(STACK_STAT.XT_SS_EV_SENT), events_suppressed: ctr(STACK_STAT.XT_SS_EV_SUPPRESSED), events_lost: ctr(STACK_STAT.XT_SS_EV_LOST) };
  }
}

/** The skb stages in path order: one that sees nothing while a later one counts packets is a hole in the path. */
const PATH_STAGES = ['netif_receive_skb', 'ip_rcv_finish', 'ip_local_deliver', 'tcp_v4_do_rcv'];

/**
 * A stage that has seen no packet while a later one (in PATH_STAGES) has counted `min` or more: said
 * once, with the likely cause. A function hooked by fentry or kprobe can be one the kernel also
 * inlined (ip_rcv_finish is the okfn of NF_HOOK in ip_rcv: Debian's 6.1 calls an inlined copy); a
 * netfilter hook sees one network namespace while the tracepoints see every one (the traffic is in
 * another namespace: --netns names the one to watch at every stage). Returns the warnings.
 */
export function silentStages(c: StackCounters, min = 10): string[] {
  const out: string[] = [];
  PATH_STAGES.forEach((name, i) => {
    const st = c.stages.find((x) => x.stage === name);
    if (!st?.hook || st.packets > 0) return;
    const later = PATH_STAGES.slice(i + 1).map((n) => c.stages.find((x) => x.stage === n)).find((x) => x?.hook && x.packets >= min);
    if (!later) return;
    const head = `${name} (${st.hook}, sees ${st.scope ?? '?'}) has seen no packet while ${later.stage} (${later.hook}, sees ${later.scope ?? '?'}) saw ${later.packets}`;
    if (/^(fentry|kprobe):/.test(st.hook))
      out.push(`${head}: this kernel runs an inlined copy of ${name}; on 6.4+ XTRACE_DISABLE_HOOKS=fentry,kprobe lets netfilter serve the stage`);
    else if (st.scope !== later.scope)
      out.push(`${head}: the packets are in another network namespace than the one it watches; --netns PID|NAME makes every stage watch that one`);
    else out.push(`${head}`);
  });
  return out;
}
export async function runStack(opts: StackOptions): Promise<void> {
  const session = new Session('stack', { bpf: true });
  await session.run(opts, async (metrics) => {
    if (opts.ip?.given) log.info(`-i/--ip: ${opts.ip.given} has host bits set; it stands for the network ${opts.ip.text}`);
    const reasonName = dropReasonNames();
    const config = encodeStackConfig({ rateLimit: opts.rateLimit, emit: !opts.stats, net: opts.ip, port: opts.port, netnsIno: opts.netns?.ino });
    const attached = attachStages(config, opts.netns);
    const { obj } = attached;
    session.own(() => obj.close());
    session.attach(...attached.links);
    const sink = makeStackSink(opts.output);
    const hooks = attached.choices.map((c) => c.serves);
    const scopes = attached.choices.map((c) => scopeOf(c.kind, opts.netns));
    const served = attached.choices.map((c) => `${c.slot}=${c.kind ?? 'unavailable'}`).join(', ');
    log.info(`stages: ${served}${opts.debugFunc ? '' : ' (--debug-func says why)'}`);
    if (opts.netns) log.info(`every stage watches the network namespace net:[${opts.netns.ino}] (--netns ${opts.netns.label})`);
    else if (attached.choices.some((c) => c.kind === 'netfilter'))
      log.info(`netfilter stages (${attached.choices.filter((c) => c.kind === 'netfilter').map((c) => c.slot).join(', ')}) see xtrace's network namespace only, the others every one; --netns PID|NAME watches one at every stage`);
    if (opts.debugFunc) sink.records([hooksRecord(attached, opts.netns)]);
    if (hooks.every((h, i) => h === null || STAGES[i]!.id === STAGE.XT_STAGE_DROP)) throw new XtError('stack: no receive-path stage can be hooked on this kernel (--debug-func shows why)', EXIT.FEATURE);

    const { clock } = session;
    const counters = new Counters(obj, hooks, scopes, reasonName);
    if (!opts.stats) {
      const events = obj.map('stack_events');
      session
        .rings()
        .add({
          fd: events.fd,
          size: events.maxEntries,
          name: 'stack_events',
          blocked: stdoutCongested,
          whenUnblocked: onStdoutDrained,
          onRecord: (dv, off) => sink.event(stackRecord(decodeStackEvent(dv, off), clock.iso, hooks, reasonName)),
        })
        .start();
    }
    const hookSeries = hookMetrics(attached.choices);
    metrics?.records([...stackMetrics(counters.read()), ...hookSeries]); // every series from the first scrape after ready

    const warnEvents = session.eventWarner('--rate-limit', opts.rateLimit, opts.intervalMs, opts.stats);
    const warnedSilent = new Set<string>();
    const warnSilent = (c: StackCounters): void => {
      for (const w of silentStages(c)) {
        const stage = w.split(' ')[0]!;
        if (warnedSilent.has(stage)) continue;
        warnedSilent.add(stage);
        log.warn(`stage ${w}`);
      }
    };
    return {
      ready: `stack: ${attached.links.length} hooks attached; ${opts.stats ? `stats every ${opts.intervalMs} ms` : 'per-packet events'}`,
      tick: () => {
        session.rings().drain();
        const c = counters.read();
        warnSilent(c);
        metrics?.records([...stackMetrics(c), ...hookSeries]);
        if (opts.stats) sink.records([{ type: 'stack_stats', ts: new Date().toISOString(), ...c }]);
        else warnEvents(c);
      },
      finish: (_why, unread) => {
        sink.flush();
        if (unread) log.warn(`${unread} bytes of events were still unread after ${EXIT_DRAIN_MS} ms at exit (events_unread_bytes in the summary)`);
        const final = counters.read();
        warnSilent(final);
        metrics?.records([...stackMetrics(final), ...hookSeries]);
        const summary: StackSummaryRecord = { ...session.summaryBase(), ...final, events_unread_bytes: unread };
        sink.records([summary]);
      },
    };
  });
}

/** A decoded ring event as its record: the time of day, the stage's function, the hook serving it, a drop's reason. */
export function stackRecord(e: StackEvent, iso: (ns: bigint | number, micro?: boolean) => string, hooks: ReadonlyArray<string | null>, reasonName: (n: number) => string): StackRecord {
  const r: StackRecord = {
    type: 'stack',
    ts: iso(e.tsNs, true),
    stage: stageFunction(e.stage, e.family),
    hook: hooks[e.stage] ?? '?',
    family: e.family,
    src: e.src,
    sport: e.sport,
    dst: e.dst,
    dport: e.dport,
    seq: e.seq,
    ack: e.ack,
    len: e.len,
    tcp_flags: e.tcpFlags,
    cpu: e.cpu,
    skb: `0x${e.skb.toString(16)}`,
  };
  if (e.latencyNs > 0) r.latency_ns = e.latencyNs; // 0: no earlier stage saw this skb
  if (e.pid) {
    r.pid = e.pid;
    r.comm = e.comm;
  }
  if (e.stage === STAGE.XT_STAGE_DROP) {
    r.drop_reason = reasonName(e.dropReason);
    if (TEARDOWN_REASONS.has(r.drop_reason)) r.teardown = true;
  }
  return r;
}
