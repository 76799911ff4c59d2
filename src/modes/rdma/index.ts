/** rdma and nccl modes: sysfs -> sampler -> records -> sinks. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { XtError, featureError, usageError } from '../../errors.js';
import { infinibandMetrics } from '../../export/infiniband.js';
import { MetricsEndpoint } from '../../export/prometheus.js';
import { log } from '../../log.js';
import { type RdmaOut, makeRdmaSink } from '../../output/rdma.js';
import { type Roots, discover, ibdev2netdevLine, listDevices, rdmaProcesses } from '../../sysfs/rdma.js';
import { signalReady, untilStopped } from '../common.js';
import { type NcclThresholds, deviceRecord, ncclRecords, rdmaRecord } from './records.js';
import { RdmaSampler } from './sampler.js';

export interface RdmaOptions {
  view: 'rdma' | 'nccl';
  roots: Roots;
  device?: string;
  port?: number;
  intervalMs: number;
  output: 'table' | 'json' | 'text';
  list: boolean;
  thresholds: NcclThresholds;
  readyFile?: string;
  metricsListen?: { host: string; port: number };
}

export async function runRdma(o: RdmaOptions): Promise<void> {
  const stopped = untilStopped();
  const devs = listDevices(o.roots);
  if (!existsSync(join(o.roots.sys, 'class/infiniband')) || devs.length === 0)
    throw featureError(`no RDMA devices under ${join(o.roots.sys, 'class/infiniband')} (is an mlx5/ib driver loaded? --sysfs-root points elsewhere?)`);
  if (o.device && !devs.includes(o.device)) throw usageError(`-d/--device: no RDMA device '${o.device}' (available: ${devs.join(', ')})`);
  const ts = (): string => new Date().toISOString();
  const infos = discover(o.roots).filter((d) => !o.device || d.name === o.device);
  if (o.port !== undefined && !infos.some((d) => d.ports.some((p) => p.port === o.port)))
    throw usageError(`--port: no port ${o.port} on ${o.device ?? 'any device'} (ports: ${[...new Set(infos.flatMap((d) => d.ports.map((p) => p.port)))].join(', ')})`);
  const sink = makeRdmaSink(o.output);
  if (o.list) {
    if (o.output === 'json') sink(infos.map((d) => deviceRecord(d, ts())));
    else process.stdout.write(infos.flatMap((d) => d.ports.filter((p) => o.port === undefined || p.port === o.port).map(ibdev2netdevLine)).join('\n') + '\n');
    return;
  }
  const metrics = o.metricsListen ? await MetricsEndpoint.start(o.metricsListen, '--metrics-listen') : null;
  sink(infos.map((d) => deviceRecord(d, ts())));
  const sampler = new RdmaSampler(o.roots, { device: o.device, port: o.port });
  const now = (): number => Number(process.hrtime.bigint() / 1_000_000n);
  const publish = (ports: ReturnType<RdmaSampler['sample']>['ports'], procs: ReturnType<typeof rdmaProcesses>): void =>
    metrics?.set(infinibandMetrics(discover(o.roots).filter((d) => !o.device || d.name === o.device), ports, procs));
  publish(sampler.sample(now()).ports, o.view === 'nccl' ? rdmaProcesses(o.roots) : []);
  let failure: Error | null = null;
  const tick = (): void => {
    const { ports, events } = sampler.sample(now());
    const t = ts();
    const procs = o.view === 'nccl' ? rdmaProcesses(o.roots) : [];
    const out: RdmaOut[] = events.map((message) => ({ type: 'rdma_event', ts: t, message }));
    if (o.view === 'rdma') out.push(...ports.map((p) => rdmaRecord(p, t, o.thresholds.errorThreshold)));
    else out.push(...ncclRecords(ports, procs, t, o.thresholds));
    sink(out);
    publish(ports, procs);
  };
  let wake: (() => void) | null = null;
  const timer = setInterval(() => {
    try {
      tick();
    } catch (e) {
      failure = e as Error;
      wake?.();
    }
  }, o.intervalMs);
  if (metrics) log.info(`metrics at ${metrics.url}`);
  signalReady(o.readyFile, `reading ${infos.map((d) => d.name).join(', ')} every ${o.intervalMs} ms`);
  try {
    await Promise.race([stopped, new Promise<void>((r) => (wake = r))]);
    clearInterval(timer);
    if (failure) throw new XtError(`${o.view}: ${(failure as Error).message}`);
    tick();
  } finally {
    clearInterval(timer);
    await metrics?.close();
  }
}
