/** What the limit mode reads of processes and cgroups: /proc, /proc/self/mountinfo, the sockets of a process. */
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

/** The cgroup2 mount point in a mountinfo file, or null. */
function cgroup2Mount(mountinfo: string): string | null {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.split(' ')[0] === 'cgroup2') return pre!.split(' ')[4]!.replace(/\\040/g, ' ');
  }
  return null;
}

/**
 * The cgroup v2 hierarchy: XTRACE_CGROUP_ROOT (the appliance mounts the host's /sys/fs/cgroup there;
 * its `unified` directory on hybrid hosts), else the cgroup2 mount point of this mount namespace
 * (/sys/fs/cgroup, or /sys/fs/cgroup/unified), else that of the nearest ancestor process in another
 * mount namespace, reached through /proc/PID/root: `ip netns exec` mounts a fresh /sys in a mount
 * namespace of its own, where the hierarchy is not mounted, but the cgroups (and a cgroup_skb hook's
 * reach) are the same. Null without one; `why` says what was looked at.
 */
export function cgroup2Root(mountinfo = '/proc/self/mountinfo'): string | null {
  return findCgroup2(mountinfo).root;
}

const mntNs = (pid: string): number | null => {
  try {
    return statSync(`/proc/${pid}/ns/mnt`).ino;
  } catch {
    return null;
  }
};
const parentOf = (pid: string): string | null => {
  try {
    return /^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
};

export function findCgroup2(mountinfo = '/proc/self/mountinfo'): { root: string | null; why: string } {
  const env = process.env.XTRACE_CGROUP_ROOT;
  if (env) {
    for (const d of [env, `${env}/unified`]) if (existsSync(`${d}/cgroup.controllers`)) return { root: d, why: '' };
    return { root: null, why: `XTRACE_CGROUP_ROOT=${env} holds no cgroup v2 hierarchy (no cgroup.controllers there)` };
  }
  const own = cgroup2Mount(mountinfo);
  if (own && existsSync(`${own}/cgroup.controllers`)) return { root: own, why: '' };
  // ancestors in another mount namespace (the shell that ran `ip netns exec`), then PID 1
  const self = mntNs('self');
  const tried: string[] = [];
  for (let pid = parentOf('self'), hops = 0; pid && pid !== '0' && hops < 64; pid = parentOf(pid), hops++) {
    if (mntNs(pid) === self && pid !== '1') continue;
    const m = cgroup2Mount(`/proc/${pid}/mountinfo`);
    if (m && existsSync(`/proc/${pid}/root${m}/cgroup.controllers`)) return { root: `/proc/${pid}/root${m}`, why: '' };
    tried.push(pid);
    if (pid === '1') break;
  }
  return {
    root: null,
    why: `no cgroup v2 hierarchy is mounted in this mount namespace${tried.length ? ` or where its ancestors see (${tried.map((p) => `PID ${p}`).join(', ')})` : ''}: mount -t cgroup2 none /sys/fs/cgroup (a cgroup-v1-only host has none)`,
  };
}

/**
 * A Docker container's cgroup directory under `root`, found by name (docker-ID.scope with the systemd
 * driver, ID with cgroupfs), which holds inside a container with its own cgroup namespace too.
 */
export function containerCgroupDir(root: string, id: string): string | null {
  const names = new Set([`docker-${id}.scope`, id]);
  let level = [root];
  for (let depth = 0; depth < 5 && level.length; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      let entries: string[];
      try {
        entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        continue;
      }
      for (const e of entries) {
        if (names.has(e)) return `${dir}/${e}`;
        next.push(`${dir}/${e}`);
      }
    }
    level = next;
  }
  return null;
}

/** The process name, or '?' once it has gone. */
export function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** A process that exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const st = /^State:\s*(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return st !== 'Z' && st !== 'X';
  } catch {
    return false;
  }
}

/** The thread-group id of a task; null when it has gone. */
export function tgidOf(pid: number): number | null {
  try {
    return Number(/^Tgid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return null;
  }
}

export interface LocalSocket {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  /** 16 bytes, IPv4 as ::ffff:a.b.c.d */
  addr: Buffer;
  port: number;
}

/** /proc/net/{udp,tcp}[6] local_address: IPv4 as one little-endian word, IPv6 as four. */
export function parseProcAddr(hex: string): { addr: Buffer; family: 4 | 6 } {
  const addr = Buffer.alloc(16);
  if (hex.length === 8) {
    addr[10] = 0xff;
    addr[11] = 0xff;
    addr.writeUInt32LE(parseInt(hex, 16), 12);
    return { addr, family: 4 };
  }
  for (let i = 0; i < 4; i++) addr.writeUInt32LE(parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0, i * 4);
  return { addr, family: 6 };
}

/** The bound UDP sockets a process holds (its fds matched by inode against its namespace's /proc/net/udp*). */
export function udpSocketsOf(pid: number): LocalSocket[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    return [];
  }
  const out: LocalSocket[] = [];
  for (const file of ['udp', 'udp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      const [a, p] = f[1]!.split(':');
      const port = parseInt(p!, 16);
      if (!port) continue;
      out.push({ proto: 'udp', ...parseProcAddr(a!), port });
    }
  }
  return out;
}

/** Every process of a cgroup v2 directory and of its children. */
export function cgroupProcs(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string, depth: number): void => {
    try {
      for (const line of readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n')) if (line) out.push(Number(line));
      if (depth < 16) for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(`${d}/${e.name}`, depth + 1);
    } catch {
      /* removed meanwhile */
    }
  };
  walk(dir, 0);
  return out;
}

/** The inode of the first PID namespace (PROC_PID_INIT_INO): the one the kernel's hooks report PIDs in. */
const INIT_PID_NS = 'pid:[4026531836]';

/**
 * Whether this process runs in a PID namespace of its own (a container without --pid=host, a pod
 * without hostPID): the PIDs it sees are not the ones bpf_get_current_pid_tgid() gives its programs.
 */
export function inChildPidNamespace(link = '/proc/self/ns/pid'): boolean {
  try {
    return readlinkSync(link) !== INIT_PID_NS;
  } catch {
    return false; // no /proc/self/ns (a kernel without namespaces): one PID space
  }
}

