/**
 * Docker Engine API (dockerode): the appliance container driven without compose, and the map from
 * IP addresses to container names that labels flows.
 */
import { existsSync } from 'node:fs';
import Docker from 'dockerode';
import { XtError, featureError } from '../errors.js';
import { log } from '../log.js';
import { formatAddr } from '../options/ip.js';
import { readText } from '../host/files.js';

export const SOCKET = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';

export function connect(): Docker {
  if (!existsSync(SOCKET)) throw featureError(`no Docker socket at ${SOCKET} (is dockerd running? DOCKER_SOCKET names another)`);
  return new Docker({ socketPath: SOCKET });
}

export interface ApplianceSpec {
  name: string;
  image: string;
  mode: string;
  env: Record<string, string>;
}

/** The same container docker-compose.yml describes: host network and PID, listed capabilities, no privileged. */
export function containerOptions(s: ApplianceSpec): Docker.ContainerCreateOptions {
  return {
    name: s.name,
    Image: s.image,
    Env: Object.entries({ MODE: s.mode, ...s.env }).map(([k, v]) => `${k}=${v}`),
    Labels: { 'io.xtrace.appliance': 'true', 'io.xtrace.mode': s.mode },
    HostConfig: {
      NetworkMode: 'host',
      PidMode: 'host',
      CapAdd: ['SYS_ADMIN', 'NET_ADMIN', ...EXTRA_CAPS],
      Ulimits: [MEMLOCK],
      SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
      Binds: ['/sys/fs/bpf:/sys/fs/bpf', '/sys/kernel/tracing:/sys/kernel/tracing:ro'],
      RestartPolicy: { Name: 'unless-stopped' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
    },
  };
}

/** Wanted where the engine knows them (BPF, PERFMON: not Docker 20.10) and the host grants them; SYS_ADMIN covers the first two. */
const EXTRA_CAPS = ['BPF', 'PERFMON', 'SYS_RESOURCE'];
/** BPF maps are charged to memlock before Linux 5.11; raising it needs CAP_SYS_RESOURCE. */
const MEMLOCK = { Name: 'memlock', Soft: -1, Hard: -1 };

const notFound = (e: unknown): boolean => (e as { statusCode?: number }).statusCode === 404;

export async function up(d: Docker, s: ApplianceSpec): Promise<string> {
  try {
    await d.getImage(s.image).inspect();
  } catch (e) {
    if (notFound(e)) throw new XtError(`--image: no image ${s.image} on this engine; build it first: make docker-build`, 2);
    throw e;
  }
  const old = d.getContainer(s.name);
  try {
    const info = await old.inspect();
    if (info.State.Running) throw new XtError(`--name: container ${s.name} is already running; stop it first: xtrace docker down`, 2);
    await old.remove({ force: true });
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  const opts = containerOptions(s);
  let c: Docker.Container | null = null;
  try {
    c = await d.createContainer(opts);
    await c.start();
  } catch (e) {
    if (!/unknown capability|unable to apply caps|setting rlimit/.test((e as Error).message)) throw e;
    await c?.remove({ force: true });
    log.info(`the engine or host refuses CAP_${EXTRA_CAPS.join('/CAP_')} (${(e as Error).message.split(':')[0]}); running with SYS_ADMIN and NET_ADMIN only`);
    opts.HostConfig!.CapAdd = opts.HostConfig!.CapAdd!.filter((cap: string) => !EXTRA_CAPS.includes(cap));
    opts.HostConfig!.Ulimits = [];
    c = await d.createContainer(opts);
    await c.start();
  }
  return c.id;
}

export async function down(d: Docker, name: string): Promise<boolean> {
  const c = d.getContainer(name);
  try {
    await c.inspect();
  } catch (e) {
    if (notFound(e)) return false;
    throw e;
  }
  try {
    await c.stop({ t: 10 }); // SIGTERM: xtrace detaches, prints its summary, exits 0
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 304) throw e; // 304: already stopped
  }
  await c.remove({ force: true });
  return true;
}

export interface Status {
  name: string;
  state: string;
  running: boolean;
  exit_code: number;
  image: string;
  mode: string | null;
  started_at: string;
}

export async function status(d: Docker, name: string): Promise<Status | null> {
  try {
    const i = await d.getContainer(name).inspect();
    const mode = i.Config.Env.find((e) => e.startsWith('MODE='))?.slice(5) ?? null;
    return { name, state: i.State.Status, running: i.State.Running, exit_code: i.State.ExitCode, image: i.Config.Image, mode, started_at: i.State.StartedAt };
  } catch (e) {
    if (notFound(e)) return null;
    throw e;
  }
}

/** A container's full id and whether it runs; null when there is no such container. */
export async function containerState(d: Docker, name: string): Promise<{ id: string; running: boolean } | null> {
  try {
    const i = await d.getContainer(name).inspect();
    return { id: i.Id, running: i.State.Running };
  } catch (e) {
    if (notFound(e)) return null;
    throw e;
  }
}

/** Writes the container's stdout and stderr as they come; resolves when the stream ends. */
export async function logs(d: Docker, name: string, follow: boolean, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const c = d.getContainer(name);
  if (!follow) {
    const buf = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    demux(buf, out, err);
    return;
  }
  const stream = await c.logs({ stdout: true, stderr: true, follow: true });
  c.modem.demuxStream(stream, out, err);
  await new Promise<void>((r) => stream.on('end', () => r()));
}

/** Docker's multiplexed log format: 8-byte headers (stream, 0, 0, 0, size BE32). */
function demux(b: Buffer, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  for (let o = 0; o + 8 <= b.length; ) {
    const size = b.readUInt32BE(o + 4);
    (b[o] === 2 ? err : out).write(b.subarray(o + 8, o + 8 + size));
    o += 8 + size;
  }
}

/* ---- IP -> container name ---- */

/** Local IPv4 addresses of a network namespace from /proc/<pid>/net/fib_trie (the "/32 host LOCAL" entries). */
export function netnsIPv4(procRoot: string, pid: number): string[] {
  const t = readText(`${procRoot}/${pid}/net/fib_trie`) ?? '';
  const out = new Set<string>();
  const lines = t.split('\n');
  for (let i = 1; i < lines.length; i++) {
    if (/\/32 host LOCAL/.test(lines[i]!)) {
      const m = /\|--\s+(\d+\.\d+\.\d+\.\d+)/.exec(lines[i - 1]!);
      if (m && !m[1]!.startsWith('127.')) out.add(m[1]!);
    }
  }
  return [...out];
}

/** IPv6 addresses of a network namespace from /proc/<pid>/net/if_inet6 (scope global only). */
export function netnsIPv6(procRoot: string, pid: number): string[] {
  return (readText(`${procRoot}/${pid}/net/if_inet6`) ?? '')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 6 && f[3] === '00' && /^[0-9a-f]{32}$/.test(f[0]!))
    .map((f) => formatAddr(Buffer.from(f[0]!, 'hex'), 6));
}

/** IP -> container name, from the Engine API and from each running container's network namespace. */
export async function containerAddresses(d: Docker, procRoot = '/proc'): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const c of await d.listContainers()) {
    const name = (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
    for (const n of Object.values(c.NetworkSettings?.Networks ?? {})) {
      if (n.IPAddress) m.set(n.IPAddress, name);
      if (n.GlobalIPv6Address) m.set(n.GlobalIPv6Address, name);
    }
    if (c.HostConfig?.NetworkMode === 'host') continue; // the host's own addresses are not the container's
    try {
      const pid = (await d.getContainer(c.Id).inspect()).State.Pid;
      if (pid > 0) for (const ip of [...netnsIPv4(procRoot, pid), ...netnsIPv6(procRoot, pid)]) if (!m.has(ip)) m.set(ip, name);
    } catch {
      /* gone meanwhile */
    }
  }
  return m;
}

/** Container id -> name, for every running container (job labels of the nccl view). */
export async function containerNames(d: Docker): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const c of await d.listContainers()) m.set(c.Id, (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''));
  return m;
}
