/**
 * TCP pacing (egress) and window clamps (ingress) for limited sockets, through the socket iterator:
 * the enforcement program queues each limited TCP socket (by cookie) on its first packet, and this runs
 * the iterator (lim_pace) whenever the queue grows; at exit the other iterator (lim_unpace) gives every
 * socket back what it had. The TCP iterator walks the sockets of the network namespace it is created
 * in, so it runs in each namespace a limited process is in (held open: it outlives the processes).
 *
 * A socket option outlives the programs: for each namespace a watchdog, started in a session of its own,
 * holds an iteration of lim_unpace open and reads it once xtrace has gone, whatever ended it (SIGKILL
 * included), so the sockets are given back their settings within a moment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { type Link, openIter, runIter } from '../../bpf/link.js';
import { type NetnsHandle, closeNetns, inNetns, netnsOf, openNetns } from '../../bpf/netns.js';
import { log } from '../../log.js';

/** How often the queue of sockets to pace is looked at. */
const POLL_MS = 100;

interface Namespace {
  handle: NetnsHandle;
  watchdog: ChildProcess | null;
}

export class Pacing {
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly namespaces = new Map<number, Namespace>();
  private seen = 0;
  private restored = false;

  constructor(
    private readonly pace: Link,
    private readonly unpace: Link,
    /** how many sockets the enforcement program has queued so far */
    private readonly asked: () => number,
    /** the network namespace files of the limited processes now (/proc/PID/ns/net) */
    private readonly nsPaths: () => string[],
  ) {}

  start(): void {
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  /** A namespace seen for the first time: held open, with its watchdog. */
  private namespace(path: string): Namespace | null {
    let ino: number;
    try {
      ino = netnsOf(path).ino;
    } catch {
      return null; // the process has gone
    }
    const known = this.namespaces.get(ino);
    if (known) return known;
    let handle: NetnsHandle;
    try {
      handle = openNetns(path);
    } catch {
      return null;
    }
    const ns: Namespace = { handle, watchdog: null };
    this.namespaces.set(ino, ns);
    try {
      const fd = inNetns(handle, () => openIter(this.unpace));
      try {
        // tail --pid waits without polling; busybox has no --pid: the loop then
        const script = 'trap "" INT TERM HUP; tail --pid="$1" -f /dev/null 2>/dev/null || while kill -0 "$1" 2>/dev/null; do sleep 0.2; done; cat <&3 >/dev/null';
        ns.watchdog = spawn('sh', ['-c', script, 'xtrace-limit-watchdog', String(process.pid)], { stdio: ['ignore', 'ignore', 'ignore', fd], detached: true });
        ns.watchdog.unref();
      } finally {
        closeSync(fd); // the watchdog has its own copy
      }
    } catch (e) {
      log.warn(`pacing: no watchdog for net:[${ino}] (${(e as Error).message}): a SIGKILLed xtrace would leave its sockets paced`);
    }
    return ns;
  }

  /** Paces (or clamps) the sockets queued since the last look, in every namespace of the limited processes. */
  poll(): void {
    const n = this.asked();
    if (n === this.seen) return;
    this.seen = n;
    for (const path of new Set(this.nsPaths())) {
      const ns = this.namespace(path);
      if (!ns) continue;
      try {
        inNetns(ns.handle, () => runIter(this.pace));
      } catch (e) {
        log.warn(`pacing: the socket iterator failed in net:[${ns.handle.ino}]: ${(e as Error).message}`);
      }
    }
  }

  /** Gives every socket back its own settings, and ends the watchdogs. Safe to call twice. */
  restore(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.restored) return;
    this.restored = true;
    for (const ns of this.namespaces.values()) {
      try {
        inNetns(ns.handle, () => runIter(this.unpace));
      } catch (e) {
        log.warn(`pacing: giving the sockets of net:[${ns.handle.ino}] back their settings failed: ${(e as Error).message}`);
      }
      if (ns.watchdog?.pid)
        try {
          process.kill(-ns.watchdog.pid, 'SIGKILL'); // its session: the shell and its tail
        } catch {
          /* gone */
        }
      closeNetns(ns.handle);
    }
  }
}
