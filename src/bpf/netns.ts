/**
 * Network namespaces. Netfilter hooks belong to one: a netfilter bpf_link is made in the namespace of
 * the thread that asks. `inNetns` runs a function with this thread switched into another namespace
 * (setns(2) changes the calling thread only: Node's other threads stay where they are) and back.
 */
import { readlinkSync, statSync } from 'node:fs';
import { c, errno, strerror } from './native.js';

const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;

/** A namespace file: /proc/PID/ns/net, /run/netns/NAME. */
export interface Netns {
  path: string;
  /** its inode: equal inodes are the same namespace */
  ino: number;
}

/** This thread's network namespace. */
export const ownNetns = (): Netns => netnsOf('/proc/thread-self/ns/net');

export function netnsOf(path: string): Netns {
  return { path, ino: statSync(path).ino };
}

/** net:[4026531840], as /proc shows it */
export const netnsName = (n: Netns): string => {
  try {
    return readlinkSync(n.path);
  } catch {
    return `net:[${n.ino}]`;
  }
};

/** A namespace held open: usable after the process whose /proc entry named it has gone. */
export interface NetnsHandle extends Netns {
  fd: number;
}

export function openNetns(path: string): NetnsHandle {
  const fd = c.open(path, O_RDONLY) as number;
  if (fd < 0) throw new Error(`${path}: ${strerror(errno())}`);
  return { path, ino: statSync(path).ino, fd };
}

export const closeNetns = (h: NetnsHandle): void => void c.close(h.fd);

/** Runs `fn` in the namespace (a path, or a handle held open), then returns to this thread's own. Throws when setns refuses. */
export function inNetns<T>(ns: Netns | NetnsHandle, fn: () => T): T {
  const own = ownNetns();
  if (own.ino === ns.ino) return fn();
  const held = 'fd' in ns;
  const target = held ? ns.fd : (c.open(ns.path, O_RDONLY) as number);
  if (target < 0) throw new Error(`${ns.path}: ${strerror(errno())}`);
  const back = c.open(own.path, O_RDONLY) as number;
  try {
    if (back < 0) throw new Error(`${own.path}: ${strerror(errno())}`);
    if ((c.setns(target, CLONE_NEWNET) as number) < 0) throw new Error(`setns ${ns.path}: ${strerror(errno())}`);
    try {
      return fn();
    } finally {
      if ((c.setns(back, CLONE_NEWNET) as number) < 0) throw new Error(`setns back to ${own.path}: ${strerror(errno())}`);
    }
  } finally {
    if (!held) c.close(target);
    if (back >= 0) c.close(back);
  }
}
