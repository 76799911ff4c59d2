/**
 * The ring-buffer consumer's ceiling: the kernel's BPF_PROG_TEST_RUN runs xtrace's own TC ingress
 * program on a 64-byte UDP datagram as fast as one core can (pinned to CPU 1), far beyond what a veth
 * carries, while xtrace (pinned to CPU 0) reads what the program emits. Configurations:
 *   capture   xtrace xdp -i lo -w /dev/null           (the packets ring into pcapng)
 *   log-json  xtrace xdp -i lo -p --rate-limit 0 -o json > /dev/null  (the events ring into JSON lines)
 * Printed per run: runs offered (and per second), records delivered and dropped by the kernel for
 * want of ring room (they must add up to the runs: nothing lost unreported), the consumer's CPU time
 * per record (ns), and records per CPU-second (the ceiling on one core when the consumer is saturated).
 * Many producers: the same with the program run on 1, 2, ... CPUs at once (BENCH_PRODUCERS, default 1
 * and every CPU; the first on CPU 1, then CPU 2 and up, CPU 0 last, where the consumer is), each
 * producer its own process: records delivered a second against producers says whether the one shared
 * ring's producer lock makes more cores deliver less.
 * Env: BENCH_ROUNDS (3), BENCH_SECONDS (4), BENCH_PRODUCERS (1,N).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestRun } from '../src/bpf/testrun.js';
import { sleep } from '../test/lib/cli.js';
import { CLI } from '../test/lib/env.js';
import { ethHeader, ipv4Header, udpHeader } from '../test/lib/peer.js';
import { cpuNs, median } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const SELF = fileURLToPath(import.meta.url);

/** Ethernet + IPv4 + UDP (10.0.0.1:40000 -> 10.0.0.2:5201) + 64 bytes of payload. */
const datagram = (): Buffer =>
  Buffer.concat([ethHeader('02:00:00:00:00:02', '02:00:00:00:00:01', 0x0800), ipv4Header('10.0.0.1', '10.0.0.2', 17, 8 + 64), udpHeader(40000, 5201, 64), Buffer.alloc(64)]);

/** The producer (a child inside the namespace): runs the program for `seconds`, prints how many runs. */
function produce(progId: number, seconds: number): void {
  const t = TestRun.byId(progId, datagram());
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  let runs = 0;
  const batch = 100_000;
  try {
    while (performance.now() < end) {
      t.run(batch);
      runs += batch;
    }
  } finally {
    t.close();
  }
  console.log(JSON.stringify({ runs, seconds: (performance.now() - start) / 1000 }));
}

const sh = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

interface Config {
  name: string;
  args: string[];
  /** delivered and dropped, from the summary record */
  counts: (s: Record<string, number>) => { delivered: number; dropped: number };
}

const CONFIGS: Config[] = [
  { name: 'capture', args: ['-w', '/dev/null'], counts: (s) => ({ delivered: s.captured!, dropped: s.capture_dropped! }) },
  { name: 'log-json', args: ['-p', '--rate-limit', '0'], counts: (s) => ({ delivered: s.events_sent!, dropped: s.events_lost! }) },
];

/** The CPU of the i-th producer: 1, 2, ... then 0 (the consumer's) last. */
const producerCpu = (i: number, cpus: number): number => (i + 1) % cpus;

/** n producers at once, each its own process pinned to its CPU; their runs summed, the longest time. */
async function produceOn(ns: string, progId: number, n: number): Promise<{ runs: number; seconds: number }> {
  const cpus = availableParallelism();
  const outs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<{ runs: number; seconds: number }>((resolve, reject) => {
        const c = spawn('ip', ['netns', 'exec', ns, 'taskset', '-c', String(producerCpu(i, cpus)), process.execPath, SELF, '--produce', String(progId), String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { runs: number; seconds: number }) : reject(new Error(`producer ${i} exited ${code}`))));
      }),
    ),
  );
  return { runs: outs.reduce((a, o) => a + o.runs, 0), seconds: Math.max(...outs.map((o) => o.seconds)) };
}

async function once(ns: string, c: Config, round: number, producers: number): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'xt-bench-'));
  const ready = join(dir, 'ready');
  const tail = join(dir, 'tail');
  // stdout (one JSON line a packet for log-json) goes through tail: only the summary is kept
  const x: ChildProcess = spawn(
    'sh',
    ['-c', `exec ip netns exec ${ns} taskset -c 0 "$0" ${CLI} xdp -i lo -o json --interval 100000 --ready-file ${ready} ${c.args.join(' ')} | tail -n 1 > ${tail}`, process.execPath],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  x.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => x.on('close', () => r()));
  try {
    for (let i = 0; !existsSync(ready) || !readFileSync(ready, 'utf8').endsWith('\n'); i++) {
      if (i > 400 || x.exitCode !== null) throw new Error(`xtrace not ready: ${err}`);
      await sleep(25);
    }
    const info = JSON.parse(readFileSync(ready, 'utf8')) as { pid: number; links: Array<{ kind: string; prog_id: number }> };
    const prog = info.links.find((l) => l.kind.includes('ingress') || l.kind.startsWith('xdp'));
    if (!prog) throw new Error(`no ingress link in ${JSON.stringify(info.links)}`);
    const cpu0 = cpuNs(info.pid);
    const p = await produceOn(ns, prog.prog_id, producers);
    await sleep(1000); // the consumer catches up with what is in the ring
    const cpu1 = cpuNs(info.pid);
    process.kill(info.pid, 'SIGINT');
    await exited;
    const summary = JSON.parse(readFileSync(tail, 'utf8')) as Record<string, number>;
    const { delivered, dropped } = c.counts(summary);
    return {
      type: 'bench',
      round,
      config: c.name,
      producers,
      runs: p.runs,
      offered_per_s: Math.round(p.runs / p.seconds),
      delivered_per_s: Math.round(delivered / p.seconds),
      delivered,
      dropped,
      unaccounted: p.runs - delivered - dropped,
      consumer_ns_per_record: Math.round((cpu1 - cpu0) / delivered),
      records_per_cpu_s: Math.round(delivered / ((cpu1 - cpu0) / 1e9)),
    };
  } finally {
    if (x.exitCode === null) {
      try {
        const pid = JSON.parse(readFileSync(ready, 'utf8')).pid as number;
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const ns = `xtbench${process.pid}`;
  sh('ip', 'netns', 'add', ns);
  try {
    sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    const results = new Map<string, Array<Record<string, number | string>>>();
    const all = availableParallelism();
    const counts = [...new Set((process.env.BENCH_PRODUCERS ?? `1,${all}`).split(',').map((n) => Math.min(Number(n), all)))];
    for (let round = 1; round <= ROUNDS; round++)
      for (const n of counts)
        for (const c of CONFIGS) {
          const r = await once(ns, c, round, n);
          console.log(JSON.stringify(r));
          const key = `${c.name}|${n}`;
          results.set(key, [...(results.get(key) ?? []), r]);
        }
    for (const [key, rs] of results) {
      const [name, producers] = key.split('|');
      const med = (k: string): number => median(rs.map((r) => r[k] as number));
      const unaccounted = rs.reduce((s, r) => s + Math.abs(r.unaccounted as number), 0);
      console.log(
        JSON.stringify({
          type: 'bench_consumer',
          config: name,
          producers: Number(producers),
          offered_per_s: med('offered_per_s'),
          delivered_per_s: med('delivered_per_s'),
          consumer_ns_per_record: med('consumer_ns_per_record'),
          records_per_cpu_s: med('records_per_cpu_s'),
          dropped_share: Number((rs.reduce((s, r) => s + (r.dropped as number), 0) / rs.reduce((s, r) => s + (r.runs as number), 0)).toFixed(3)),
          unaccounted,
        }),
      );
      if (unaccounted) throw new Error(`${name}: ${unaccounted} runs neither delivered nor counted as dropped`);
    }
  } finally {
    sh('ip', 'netns', 'del', ns);
  }
}

if (process.argv[2] === '--produce') produce(Number(process.argv[3]), Number(process.argv[4]));
else
  main().catch((e: Error) => {
    console.error(`bench: ${e.message}`);
    process.exit(1);
  });
