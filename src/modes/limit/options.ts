/** The limit mode's options, as data (src/options/spec.ts). Short flags as the earlier C tool had them. */
import { existsSync, readFileSync } from 'node:fs';
import { usageError } from '../../errors.js';
import { interval, exportOptions, output, readyFile, verbose } from '../../options/common.js';
import { BYTE_RATE_FORM, parseByteRate, parseChoice, parseRate, parseSeconds } from '../../options/index.js';
import { type Constraints, flag, optional, value } from '../../options/spec.js';
import { XT_LIMIT_MAX_BUCKETS } from './layout.js';

/** The kernel object the mode loads (build/bpf/, or $XTRACE_BPF_DIR). */
export const LIMIT_OBJECT = 'limit.bpf.o';

export const PROC = (): string => '/proc';

/** Comma-separated PIDs of running processes (threads are refused: a thread's process is limited as a whole). */
export function parsePids(v: string, from: string): number[] {
  const out: number[] = [];
  for (const p of v.split(',').map((s) => s.trim())) {
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 4194304) throw usageError(`${from}: expected process IDs (1234, or 1234,5678), got '${v}'`);
    const pid = Number(p);
    let tgid: number;
    try {
      tgid = Number(/^Tgid:\s*(\d+)/m.exec(readFileSync(`${PROC()}/${pid}/status`, 'utf8'))?.[1]);
    } catch {
      throw usageError(`${from}: no process ${pid} (expected the PID of a running process)`);
    }
    if (tgid !== pid) throw usageError(`${from}: ${pid} is a thread of process ${tgid}; give the process ID ${tgid}`);
    if (!out.includes(pid)) out.push(pid);
  }
  if (out.length > XT_LIMIT_MAX_BUCKETS) throw usageError(`${from}: at most ${XT_LIMIT_MAX_BUCKETS} processes, got ${out.length}`);
  return out;
}

/** A cgroup v2 directory (it has cgroup.controllers; a v1 directory has not). */
export function parseCgroupDir(v: string, from: string): string {
  const dir = v.replace(/\/+$/, '') || '/';
  if (!existsSync(`${dir}/cgroup.controllers`)) throw usageError(`${from}: expected a cgroup v2 directory (e.g. /sys/fs/cgroup/system.slice/foo.service), got '${v}'`);
  return dir;
}

export const DIRECTIONS = ['egress', 'ingress'] as const;
export const LIMIT_HOOKS = ['auto', 'cgroup', 'netfilter'] as const;

export const LIMIT_OPTIONS = {
  pid: optional('-p, --pid <pids>', 'limit these processes (all their threads); several -p or comma-separated', parsePids, { repeatable: true }),
  children: flag('--children', 'with -p: the processes they fork from now on join their limit'),
  cgroup: optional('--cgroup <dir>', 'limit every process of this cgroup v2 directory (and its children) as one', parseCgroupDir),
  container: optional('--container <name>', "limit a Docker container (its cgroup, found through the engine)", (v) => v),
  rate: optional('-r, --rate <rate>', `the limit, in ${BYTE_RATE_FORM}; IP bytes, headers included`, parseByteRate),
  direction: value('-d, --direction <dir>', 'egress (sending) | ingress (receiving)', (v, from) => parseChoice(v, from, DIRECTIONS), { default: 'egress' }),
  timescale: value('-t, --timescale <seconds>', 'burst: the bucket holds this many seconds of the rate (1 is strict, 60 lets a minute of savings burst)', (v, from) => parseSeconds(v, from, 0.001, 3600), {
    default: '1',
  }),
  hook: value('--hook <hook>', 'enforcement: cgroup (cgroup_skb; every namespace) | netfilter (LOCAL_OUT/LOCAL_IN in the -p processes\' network namespaces, drop only) | auto (cgroup, else netfilter)', (v, from) => parseChoice(v, from, LIMIT_HOOKS), {
    default: 'auto',
  }),
  congestionSignal: flag('--no-congestion-signal', 'over the limit, only drop (the earlier tool); by default TCP is told to slow down (NET_XMIT_CN, ECN CE)'),
  quiet: flag('-q, --quiet', 'no [map]/[parse]/[send]/[drop]/[learn] events: only the summary every interval'),
  eventLimit: value('--event-limit <n>', 'events per second, K/M suffix allowed, 0 = unlimited; the rest are counted as suppressed', (v, from) => parseRate(v, from, 100_000_000), { default: '100' }),
  intervalMs: interval('1000'),
  output: output(['text', 'json'] as const, 'text | json (one object a line)'),
  ...exportOptions(':9438'),
  readyFile: readyFile(),
  verbose: verbose(),
};

/** What goes with what (checked before anything runs, src/options/spec.ts). */
export const LIMIT_CONSTRAINTS: Constraints<typeof LIMIT_OPTIONS> = {
  oneOf: { keys: ['pid', 'cgroup', 'container'], none: 'expected what to limit: -p PID (several allowed), --cgroup DIR or --container NAME', many: 'give one of -p PID, --cgroup DIR, --container NAME' },
  required: [{ key: 'rate', message: 'the limit, e.g. -r 1M (1 MiB/s), -r 100mbit' }],
  dependsOn: [
    { key: 'children', on: 'pid', message: 'only with -p/--pid' },
    { key: 'hook', on: 'pid', when: (v) => v === 'netfilter', message: 'only with -p/--pid (a netfilter hook cannot see cgroups); use --hook cgroup' },
  ],
};
