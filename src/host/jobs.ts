/**
 * Which job a process belongs to, from its cgroup (and, for Slurm, its environment): a Slurm job, a
 * Kubernetes pod (and its container), a Docker container. The layouts the schedulers make:
 *   Slurm, cgroup v1:   /slurm/uid_1000/job_1234/step_0/task_0  (any hierarchy's line)
 *   Slurm, cgroup v2:   /system.slice/slurmstepd.scope/job_1234/step_0/user/task_0
 *   kubelet, cgroupfs:  /kubepods/burstable/pod<uid>/<container id>
 *   kubelet, systemd:   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid, _ for ->.slice/cri-containerd-<id>.scope
 *   Docker:             /docker/<id>, /system.slice/docker-<id>.scope
 * SLURM_JOB_ID in /proc/PID/environ names the job where the cgroup does not (a job without its own cgroup).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readText } from './files.js';

export type Job =
  | { kind: 'slurm'; id: string }
  | { kind: 'pod'; id: string; container: string | null }
  | { kind: 'docker'; id: string };

/** The job a cgroup path names (a line of /proc/PID/cgroup, after its second colon), or null. */
export function jobOfCgroup(path: string): Job | null {
  const slurm = /\/slurm[^/]*\/(?:.*\/)?job_(\d+)(?:\/|$)/.exec(path);
  if (slurm) return { kind: 'slurm', id: slurm[1]! };
  const container = /(?:\/|-)([0-9a-f]{64})(?:\.scope)?$/.exec(path)?.[1] ?? null;
  const pod = /kubepods[^/]*\/(?:[^/]*\/)*?(?:kubepods-[a-z]+-)?pod([0-9a-f_-]{36})(?:\.slice)?(?:\/|$)/.exec(path);
  if (pod) return { kind: 'pod', id: pod[1]!.replace(/_/g, '-'), container };
  if (container && /(?:^|\/)(?:docker\/|docker-)[0-9a-f]{64}/.test(path)) return { kind: 'docker', id: container };
  return null;
}

/** The job of a process: its cgroup lines in order, then SLURM_JOB_ID in its environment. Null when none is known. */
export function jobOf(pid: number, procRoot = '/proc'): Job | null {
  const lines = (readText(join(procRoot, String(pid), 'cgroup')) ?? '').split('\n');
  for (const l of lines) {
    const path = l.split(':').slice(2).join(':');
    const j = path ? jobOfCgroup(path) : null;
    if (j) return j;
  }
  try {
    const env = readFileSync(join(procRoot, String(pid), 'environ'), 'latin1').split('\0');
    const id = env.find((e) => e.startsWith('SLURM_JOB_ID='))?.slice('SLURM_JOB_ID='.length);
    if (id && /^\d+$/.test(id)) return { kind: 'slurm', id };
  } catch {
    /* gone, or not ours to read */
  }
  return null;
}

/** The label a job has in records and metrics: slurm:1234, pod:<uid>, docker:<name or short id>. */
export function jobLabel(j: Job, dockerNames?: ReadonlyMap<string, string>): string {
  if (j.kind === 'docker') return `docker:${dockerNames?.get(j.id) ?? j.id.slice(0, 12)}`;
  return `${j.kind}:${j.id}`;
}
