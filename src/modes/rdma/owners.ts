/**
 * Who is on each RDMA device: the QPs the kernel's RDMA netlink lists (each with its pid, type and
 * state) and the processes holding a verbs device open (/proc/PID/fd), each with the job its cgroup
 * names (a Slurm job, a Kubernetes pod, a Docker container), and where the device binds per-QP
 * counters to processes (mlx5's auto mode by pid), each process's counters.
 */
import { existsSync } from 'node:fs';
import { type Job, jobLabel, jobOf } from '../../host/jobs.js';
import { readText } from '../../host/files.js';
import { log } from '../../log.js';
import { type QpCounter, type RdmaQp, qpCounters, rdmaQps } from '../../sysfs/rdma-netlink.js';
import { type RdmaProcess, type Roots, rdmaProcesses } from '../../sysfs/rdma.js';

export interface Owner {
  pid: number;
  comm: string;
  /** maps libnccl */
  nccl: boolean;
  /** slurm:1234, pod:<uid>, docker:<name>; null when its cgroup names none */
  job: string | null;
  /** its QPs on this device, by type and state ("RC/RTS") */
  qps: Array<{ lqpn: number; type: string; state: string }>;
  /** its per-QP counters on this device (summed over its QPs), where the device binds them */
  counters?: Record<string, number>;
}

export interface DeviceOwners {
  owners: Owner[];
  jobs: string[];
  /** per-process counters: "per pid" where bound, else why not */
  qpCounters: string;
}

/** What the RDMA netlink could not say, said once a run. */
let warned = false;
function netlinkOr<T>(what: () => T, fallback: T): T {
  try {
    return what();
  } catch (e) {
    if (!warned) log.warn(`RDMA netlink: ${(e as Error).message}; QPs and their owners come from /proc alone (processes holding a verbs device)`);
    warned = true;
    return fallback;
  }
}

export class Owners {
  /** container id -> name (Docker), filled in the background */
  private dockerNames = new Map<string, string>();
  private dockerBusy = false;

  constructor(private readonly roots: Roots) {}

  private refreshDocker(jobs: Iterable<Job>): void {
    if (this.dockerBusy || ![...jobs].some((j) => j.kind === 'docker')) return;
    this.dockerBusy = true;
    void (async () => {
      try {
        const d = await import('../../docker/index.js');
        if (existsSync(d.SOCKET)) this.dockerNames = await d.containerNames(d.connect());
      } catch (e) {
        log.debug(`docker names: ${(e as Error).message}`);
      } finally {
        this.dockerBusy = false;
      }
    })();
  }

  /** Per device: its owners, their jobs, and whether per-process counters are bound. Reads /proc and the netlink once. */
  read(devices: ReadonlyArray<{ name: string; driver: string }>): Map<string, DeviceOwners> {
    const own = this.roots.proc === '/proc';
    // the netlink speaks of this machine's devices: with a fixture tree, only /proc's fd links count
    const qps: RdmaQp[] = own ? netlinkOr(rdmaQps, []) : [];
    let bound: QpCounter[] = [];
    let boundError: string | null = null;
    if (own)
      try {
        bound = qpCounters();
      } catch (e) {
        boundError = (e as Error).message; // a kernel or device without per-QP counters refuses the dump
      }
    const byFd: RdmaProcess[] = rdmaProcesses(this.roots);
    const jobs = new Map<number, Job | null>();
    const jobOfPid = (pid: number): Job | null => {
      if (!jobs.has(pid)) jobs.set(pid, jobOf(pid, this.roots.proc));
      return jobs.get(pid)!;
    };
    const out = new Map<string, DeviceOwners>();
    for (const dev of devices) {
      const owners = new Map<number, Owner>();
      const ownerOf = (pid: number): Owner => {
        let o = owners.get(pid);
        if (!o) {
          const fd = byFd.find((p) => p.pid === pid);
          const job = jobOfPid(pid);
          o = { pid, comm: fd?.comm ?? readText(`${this.roots.proc}/${pid}/comm`) ?? '?', nccl: fd?.nccl ?? false, job: job ? jobLabel(job, this.dockerNames) : null, qps: [] };
          owners.set(pid, o);
        }
        return o;
      };
      for (const q of qps) if (q.device === dev.name && q.pid !== null) ownerOf(q.pid).qps.push({ lqpn: q.lqpn, type: q.type, state: q.state });
      for (const p of byFd) if (p.devices.includes(dev.name)) ownerOf(p.pid);
      const mine = bound.filter((c) => c.device === dev.name && c.qps.some((q) => q.pid !== null));
      for (const c of mine)
        for (const pid of new Set(c.qps.map((q) => q.pid).filter((p): p is number => p !== null))) {
          const o = ownerOf(pid);
          o.counters ??= {};
          for (const [n, v] of c.values) o.counters[n] = (o.counters[n] ?? 0) + Number(v);
        }
      const list = [...owners.values()].sort((a, b) => a.pid - b.pid);
      const why = mine.length
        ? 'per pid'
        : boundError && dev.driver !== 'rxe'
          ? `none: ${boundError}`
          : dev.driver === 'rxe'
          ? 'none: rxe binds no per-QP counters'
          : dev.driver === 'mlx5'
            ? `none bound: rdma statistic qp set link ${dev.name}/1 auto type on pid on binds one a process`
            : 'none bound';
      out.set(dev.name, { owners: list, jobs: [...new Set(list.map((o) => o.job).filter((j): j is string => j !== null))].sort(), qpCounters: why });
    }
    this.refreshDocker([...jobs.values()].filter((j): j is Job => j !== null));
    return out;
  }
}
