/** rdma and nccl modes: sysfs -> sampler -> records -> sinks. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { XtError, featureError, usageError } from '../../errors.js';
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
}

export async function runRdma(o: RdmaOptions): Promise<void> {
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
  sink(infos.map((d) => deviceRecord(d, ts())));
  const sampler = new RdmaSampler(o.roots, { device: o.device, port: o.port });
  const now = (): number => Number(process.hrtime.bigint() / 1_000_000n);
  sampler.sample(now());
  const tick = (): void => {
    try {
      const { ports, events } = sampler.sample(now());
      const t = ts();
      const out: RdmaOut[] = events.map((message) => ({ type: 'rdma_event', ts: t, message }));
      if (o.view === 'rdma') out.push(...ports.map((p) => rdmaRecord(p, t, o.thresholds.errorThreshold)));
      else out.push(...ncclRecords(ports, rdmaProcesses(o.roots), t, o.thresholds));
      sink(out);
    } catch (e) {
      throw new XtError(`${o.view}: ${(e as Error).message}`);
    }
  };
  const timer = setInterval(tick, o.intervalMs);
  signalReady(o.readyFile, `reading ${infos.map((d) => d.name).join(', ')} every ${o.intervalMs} ms`);
  await untilStopped();
  clearInterval(timer);
  tick();
}
