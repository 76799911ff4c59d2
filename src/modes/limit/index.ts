/** limit mode: options -> buckets and hooks -> events and per-interval stats -> records; on exit the limit is gone. */
import { type Attached, type HookSlot, attachSlots } from '../../bpf/hooks.js';
import { type Link, progId } from '../../bpf/link.js';
import { lookup, perCpuStride, remove, sumU64, update } from '../../bpf/maps.js';
import { netnsOf, ownNetns } from '../../bpf/netns.js';
import { BpfObject } from '../../bpf/object.js';
import { EXIT, XtError, usageError } from '../../errors.js';
import { limitMetrics } from '../../export/limit.js';
import { hookMetrics } from '../../export/metric.js';
import { log } from '../../log.js';
import { formatAddr } from '../../options/index.js';
import type { Resolved } from '../../options/spec.js';
import { makeLimitSink, rateBoth } from '../../output/limit.js';
import { type LimitCounters, type LimitEventName, type LimitEventRecord, type LimitSummaryRecord, ipProtoLabel } from '../../records/index.js';
import { defaultObject } from '../common.js';
import { Session } from '../session.js';
import { decodeLimitEvent, encodeLearnKey, encodeLearnVal, encodeLimitConfig, sumCounters } from './codec.js';
import { LIMIT_EV, LIMIT_STAT, LIMIT_VIA } from './layout.js';
import { type LIMIT_OPTIONS, LIMIT_OBJECT } from './options.js';
import { alive, cgroupProcs, comm, containerCgroupDir, findCgroup2, inChildPidNamespace, tgidOf, udpSocketsOf } from '../../host/procs.js';
import { Pacing } from './pacing.js';
import { limitSlots } from './slots.js';

export type LimitOptions = Resolved<typeof LIMIT_OPTIONS>;

const EV_NAMES: Record<number, LimitEventName> = {
  [LIMIT_EV.XT_LEV_MAP]: 'map', [LIMIT_EV.XT_LEV_PARSE]: 'parse', [LIMIT_EV.XT_LEV_SEND]: 'send', [LIMIT_EV.XT_LEV_DROP]: 'drop',
  [LIMIT_EV.XT_LEV_LEARN]: 'learn', [LIMIT_EV.XT_LEV_FORK]: 'fork', [LIMIT_EV.XT_LEV_EXIT]: 'exit',
};
const VIA_NAMES: Record<number, string> = { [LIMIT_VIA.XT_VIA_SOCK_CREATE]: 'sock_create', [LIMIT_VIA.XT_VIA_SEND]: 'send', [LIMIT_VIA.XT_VIA_RECV]: 'recv', [LIMIT_VIA.XT_VIA_LEARNT]: 'learnt' };

/** One bucket: a -p process (and the children it took along), or the cgroup. */
interface Target {
  bucket: number;
  pid?: number;
  cgroup?: string;
  /** processes in this bucket that are still running */
  members: Set<number>;
  last: { passBytes: number; at: number };
  achieved: number;
}

async function containerCgroup(name: string, root: string): Promise<string> {
  const d = await import('../../docker/index.js');
  let c: { id: string; running: boolean } | null;
  try {
    c = await d.containerState(d.connect(), name);
  } catch (e) {
    throw new XtError(`--container: cannot ask the Docker engine at ${d.SOCKET} (${(e as Error).message.split('\n')[0]}); or give --cgroup DIR`, EXIT.FAILURE);
  }
  if (!c) throw usageError(`--container: no container '${name}' (docker ps lists them)`);
  if (!c.running) throw usageError(`--container: '${name}' is not running`);
  const dir = containerCgroupDir(root, c.id);
  if (!dir) throw new XtError(`--container: no cgroup of '${name}' (docker-${c.id.slice(0, 12)}...) under ${root}; give --cgroup DIR`, EXIT.FEATURE);
  return dir;
}

/** How long a run that ended by itself serves its final values, waiting for one more scrape. */
const LAST_SCRAPE_MS = 30_000;

/** Chooses a hook per slot, loads and attaches (shared with `xtrace probe --mode limit`). */
export function attachLimit(slots: HookSlot[], config: Buffer): Attached {
  return attachSlots('limit', slots, () => {
    const obj = BpfObject.open(defaultObject(LIMIT_OBJECT));
    obj.setSectionData('.rodata', config);
    return obj;
  });
}

/** `o` has passed LIMIT_CONSTRAINTS (the registry checks them): one target kind, a rate. */
export async function runLimit(o: LimitOptions): Promise<void> {
  const rate = o.rate!;
  const session = new Session('limit', { bpf: true });
  await session.run(o, async (metrics) => {
    // the hierarchy (through PID 1's mounts under `ip netns exec`, which mounts a fresh /sys); netfilter needs none
    const cg = findCgroup2();
    const root = cg.root;
    if (!root && (o.hook === 'cgroup' || !o.pid)) throw new XtError(`limit: ${cg.why}; --hook netfilter (-p only) needs none`, EXIT.FEATURE);
    const cgroupDir = o.cgroup ?? (o.container ? await containerCgroup(o.container, root!) : undefined);
    const egress = o.direction === 'egress';
    const pids = o.pid ?? [];
    // the kernel's hooks know a process by its PID in the first PID namespace: from a namespace of our
    // own, -p would name other processes (or none) there, and the limit would hold nothing
    if (pids.length && inChildPidNamespace())
      throw new XtError(
        `-p/--pid: xtrace runs in a PID namespace of its own (a container without --pid=host, a pod without hostPID: true), and the kernel's hooks see the host's PIDs, so -p ${pids.join(',')} would limit nothing; run it in the host's PID namespace, or limit --cgroup or --container`,
        EXIT.FEATURE,
      );
    // Netfilter hooks see one network namespace: they go in each one a -p process is in (a process in
    // another namespace would otherwise pass unseen while the limit said it held).
    const own = ownNetns();
    const namespaces = new Map<number, { path: string | null; pids: number[] }>();
    for (const pid of pids) {
      let ns;
      try {
        ns = netnsOf(`/proc/${pid}/ns/net`);
      } catch (e) {
        throw usageError(`-p/--pid: cannot read the network namespace of process ${pid} (${(e as NodeJS.ErrnoException).code}): has it exited?`);
      }
      const entry = namespaces.get(ns.ino) ?? { path: ns.ino === own.ino ? null : ns.path, pids: [] };
      entry.pids.push(pid);
      namespaces.set(ns.ino, entry);
    }
    const burstNs = BigInt(Math.round(o.timescale * 1e9));
    const config = encodeLimitConfig({
      rate,
      burstNs,
      markNs: burstNs / 2n,
      eventLimit: o.eventLimit,
      egress,
      congestionSignal: o.congestionSignal,
      wholeCgroup: cgroupDir !== undefined,
      needLearn: o.hook !== 'cgroup',
      quiet: o.quiet,
      pace: o.congestionSignal,
    });
    const slots = limitSlots({
      hook: o.hook,
      egress,
      enforceDir: cgroupDir ?? root,
      cgroupMissing: cg.why,
      netns: [...namespaces.values()].map((n) => n.path),
      pids: cgroupDir ? null : { root, children: o.children },
      pace: o.congestionSignal,
    });
    const attached = attachLimit(slots, config);
    const { obj, links } = attached;
    session.own(() => obj.close());
    session.attach(...links);
    const served = new Map(attached.choices.map((c) => [c.slot, c]));
    const enforce = served.get('enforce')!;
    const choiceText = attached.choices.map((c) => `${c.slot}=${c.serves ?? 'unavailable'}`).join(', ');
    log.info(`hooks: ${choiceText}`);
    for (const c of attached.choices)
      for (const t of c.tried) if (t.outcome === 'refused') log.debug(`${c.slot}: ${t.hook} refused: ${t.reason}`);
    if (!enforce.serves) {
      const why = enforce.tried.map((t) => `${t.hook}: ${t.reason}`).join('; ');
      throw new XtError(`limit: the kernel serves no enforcement hook (${why})`, EXIT.FEATURE);
    }
    const enforcedAt: string = enforce.serves;
    if (pids.length && !served.get('sock_create')?.serves && !served.get('first_send')?.serves && !served.get('first_recv')?.serves)
      throw new XtError('limit: the kernel serves none of the hooks that attribute sockets to processes (-v says why)', EXIT.FEATURE);
    const linkOf = (prog: string): Link | undefined => {
      const id = progId(obj.progFd(prog));
      return links.find((l) => l.progId === id);
    };
    if (enforce.kind === 'netfilter') {
      const where = [...namespaces.entries()].map(([ino, n]) => `${n.path ? `net:[${ino}]` : `net:[${ino}] (xtrace's own)`} of ${n.pids.map((p) => `PID ${p}`).join(', ')}`);
      log.info(`enforcing at netfilter in the network namespace${namespaces.size > 1 ? 's' : ''} ${where.join('; ')}; packets over the limit are dropped (no congestion signal there)`);
      if (o.hook === 'auto') log.warn(`cgroup_skb refused (${enforce.tried[0]?.reason || 'no reason given'}); fell back to netfilter`);
    }

    const sink = makeLimitSink(o.output);
    const { clock } = session;
    const direction = o.direction;

    // Buckets: one per -p process, or bucket 0 for the cgroup.
    const targets: Target[] = cgroupDir
      ? [{ bucket: 0, cgroup: cgroupDir, members: new Set(), last: { passBytes: 0, at: performance.now() }, achieved: 0 }]
      : pids.map((pid, i) => ({ bucket: i, pid, members: new Set([pid]), last: { passBytes: 0, at: performance.now() }, achieved: 0 }));
    const comms = new Map<number, string>();
    const commOf = (pid: number): string => {
      let c = comms.get(pid);
      if (c === undefined || c === '?') comms.set(pid, (c = comm(pid)));
      return c;
    };
    const limitedMap = obj.map('limited');
    const key4 = Buffer.alloc(4);
    const val4 = Buffer.alloc(4);
    for (const t of targets)
      if (t.pid) {
        commOf(t.pid);
        key4.writeUInt32LE(t.pid);
        val4.writeUInt32LE(t.bucket);
        update(limitedMap, key4, val4);
      }
    const unlimit = (pid: number): void => {
      key4.writeUInt32LE(pid);
      remove(limitedMap, key4); // gone already when its exit program ran first
    };

    const emit = (event: LimitEventName, pid: number, extra: Partial<LimitEventRecord> = {}, tsNs?: bigint): void => {
      if (o.quiet) return;
      sink.event({ type: 'limit', ts: tsNs ? clock.iso(tsNs) : new Date().toISOString(), event, pid, comm: commOf(pid), direction, ...extra });
    };

    // UDP sockets bound before start: learnt from /proc, so that datagrams to them are attributed.
    const learntUdp = new Set<string>();
    const learnUdp = (): void => {
      for (const t of targets)
        for (const pid of t.members)
          for (const s of udpSocketsOf(pid)) {
            const k = `${pid} ${s.addr.toString('hex')} ${s.port}`;
            if (learntUdp.has(k)) continue;
            learntUdp.add(k);
            update(obj.map('learnt'), encodeLearnKey(s.addr, s.port, 17), encodeLearnVal(pid, t.bucket));
            emit('learn', pid, { ip: formatAddr(s.addr, s.family), port: s.port, proto: 'UDP', via: 'proc' });
          }
    };
    if (!cgroupDir) learnUdp();

    let allGone: () => void = () => undefined;
    const gone = new Promise<'gone'>((r) => (allGone = () => r('gone')));
    const bucketOf = new Map<number, Target>(targets.flatMap((t) => [...t.members].map((m) => [m, t] as [number, Target])));
    const left = (pid: number, how: string): void => {
      const t = bucketOf.get(pid);
      if (!t || !t.members.delete(pid)) return;
      bucketOf.delete(pid);
      unlimit(pid);
      const others = targets.reduce((n, x) => n + x.members.size, 0);
      const what = pid === t.pid ? `-p ${pid} (${commOf(pid)})` : `PID ${pid} (${commOf(pid)}, a child of ${t.pid})`;
      log.warn(`${what}: the process ${how}; ${others ? `still limiting ${others} process${others > 1 ? 'es' : ''}` : 'no limited process is left'}`);
      if (others === 0) allGone();
    };

    const events = obj.map('limit_events');
    session.rings().add({
      fd: events.fd,
      size: events.maxEntries,
      name: 'limit_events',
      onRecord: (dv, off) => {
        const e = decodeLimitEvent(dv, off);
        const name = EV_NAMES[e.kind];
        if (!name) return;
        if (name === 'fork') {
          if (tgidOf(e.child) !== e.child) return void unlimit(e.child); // a thread (the classic tracepoint cannot tell)
          const t = targets[e.bucket];
          if (t && !t.members.has(e.child)) {
            t.members.add(e.child);
            bucketOf.set(e.child, t);
            commOf(e.child);
            emit('fork', e.tgid, { child: e.child }, e.tsNs);
          }
          return;
        }
        if (name === 'exit') {
          emit('exit', e.tgid, {}, e.tsNs);
          left(e.tgid, 'exited');
          return;
        }
        const extra: Partial<LimitEventRecord> = {};
        if (name === 'map') extra.via = VIA_NAMES[e.via] ?? String(e.via);
        if (name === 'parse' || name === 'learn') Object.assign(extra, { ip: e.addr, port: e.port, proto: ipProtoLabel(e.proto) });
        if (name === 'send' || name === 'drop') Object.assign(extra, { bytes: e.bytes, packets: 1, congestion_signal: e.via === 1 });
        emit(name, e.tgid || (targets[e.bucket]?.pid ?? 0), extra, e.tsNs);
      },
    }).start();

    const hookSeries = hookMetrics(attached.choices);

    const counterBuf = Buffer.alloc(perCpuStride(obj.map('limit_counters').valueSize));
    const statBuf = Buffer.alloc(perCpuStride(8));
    const stat = (i: number): number => {
      key4.writeUInt32LE(i);
      lookup(obj.map('limit_stats'), key4, statBuf);
      return Number(sumU64(statBuf, 0, 8, 0));
    };
    const paceLink = served.get('pace')?.serves ? linkOf('lim_pace') : undefined;
    const unpaceLink = served.get('pace')?.serves ? linkOf('lim_unpace') : undefined;
    if (paceLink && unpaceLink) {
      // the namespaces of the limited processes: -p's and their children, or every process of the cgroup
      const nsPaths = (): string[] => (cgroupDir ? cgroupProcs(cgroupDir) : [...bucketOf.keys()]).map((pid) => `/proc/${pid}/ns/net`);
      const pacing = new Pacing(paceLink, unpaceLink, () => stat(LIMIT_STAT.XT_LS_PACE_ASKED), nsPaths);
      // the hooks first (no socket is queued after), then every paced socket gets its own settings back
      session.detachInSteps((l) => l.kind === 'iter', () => pacing.restore());
      pacing.start();
      log.info(egress ? 'TCP sockets are paced at the rate (SO_MAX_PACING_RATE), given back their own at exit' : "TCP sockets' receive window is clamped to what the rate carries in two round trips, given back at exit");
    } else if (o.congestionSignal && enforce.kind === 'cgroup')
      log.warn(`the kernel cannot ${egress ? 'pace' : 'clamp the window of'} limited TCP sockets (${served.get('pace')?.tried.map((t) => t.reason).join('; ') || 'no socket iterator'}): TCP then sends in bursts between waits, and retransmits more`);
    const read = (t: Target, rateOver?: number): LimitCounters => {
      key4.writeUInt32LE(t.bucket);
      counterBuf.fill(0);
      lookup(obj.map('limit_counters'), key4, counterBuf);
      const c = sumCounters(counterBuf);
      const now = performance.now();
      if (rateOver === undefined) {
        const dt = (now - t.last.at) / 1000;
        if (dt > 0) t.achieved = (c.passBytes - t.last.passBytes) / dt;
        t.last = { passBytes: c.passBytes, at: now };
      }
      return {
        target: t.cgroup ? 'cgroup' : 'pid',
        ...(t.cgroup ? { cgroup: t.cgroup } : { pid: t.pid!, comm: commOf(t.pid!) }),
        direction,
        rate_target_bytes_per_s: rate,
        rate_achieved_bytes_per_s: Math.round(rateOver !== undefined ? c.passBytes / rateOver : t.achieved),
        passed_bytes: c.passBytes,
        passed_packets: c.passPackets,
        dropped_bytes: c.dropBytes,
        dropped_packets: c.dropPackets,
        congestion_signals: c.cn,
        acks_held: c.acksHeld,
        alive: t.cgroup !== undefined || t.members.size > 0,
      };
    };
    const evCounts = (): { events_sent: number; events_suppressed: number; events_lost: number } => ({
      events_sent: stat(LIMIT_STAT.XT_LS_EV_SENT),
      events_suppressed: stat(LIMIT_STAT.XT_LS_EV_SUPPRESSED),
      events_lost: stat(LIMIT_STAT.XT_LS_EV_LOST),
    });

    // every series from the first scrape after ready (at zero), not only after the first interval
    metrics?.records([...limitMetrics(targets.map((t) => read(t)), evCounts()), ...hookSeries]);
    const what = cgroupDir ? `cgroup ${cgroupDir}` : pids.map((p) => `PID ${p} (${commOf(p)})`).join(', ');
    const warnEvents = session.eventWarner('--event-limit', o.eventLimit, o.intervalMs, o.quiet);
    return {
      ready: `limiting ${what} to ${rateBoth(rate)} ${direction} (burst ${o.timescale} s) at ${enforcedAt}`,
      stopping: 'removing the limit',
      ended: gone.then(() => ({ why: 'gone', say: 'every limited process has exited' })),
      tick: () => {
        session.rings().drain();
        for (const pid of [...bucketOf.keys()]) if (!alive(pid)) left(pid, 'exited');
        if (!cgroupDir) learnUdp();
        const rows = targets.map((t) => read(t));
        sink.records(rows.map((r) => ({ type: 'limit', ts: new Date().toISOString(), event: 'stats', ...r })));
        const ev = evCounts();
        metrics?.records([...limitMetrics(rows, ev), ...hookSeries]);
        warnEvents(ev);
      },
      finish: async (why) => {
        // the final values for the scraper (and the last push)
        metrics?.records([...limitMetrics(targets.map((t) => read(t)), evCounts()), ...hookSeries]);
        const durationS = session.durationS();
        const summary: LimitSummaryRecord = {
          ...session.summaryBase(),
          hook: enforcedAt,
          limits: targets.map((t) => read(t, durationS)),
          sockets_tagged: stat(LIMIT_STAT.XT_LS_TAGGED),
          sockets_paced: stat(LIMIT_STAT.XT_LS_PACED),
          sockets_restored: stat(LIMIT_STAT.XT_LS_RESTORED),
          ...evCounts(),
        };
        sink.records([summary]);
        sink.flush();
        // ended by itself (no signal): a scraper has not seen the last interval yet
        if (why === 'gone') await metrics?.lastScrape(LAST_SCRAPE_MS, session.stopped);
      },
    };
  });
}
