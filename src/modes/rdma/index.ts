/** rdma and nccl modes: sysfs -> sampler -> records -> sinks. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { featureError, usageError } from '../../errors.js';
import { infinibandMetrics } from '../../export/rdma.js';
import type { Resolved } from '../../options/spec.js';
import { makeRdmaSink } from '../../output/rdma.js';
import type { NcclRecord, RdmaOut } from '../../records/index.js';
import { ethtoolStats } from '../../bpf/ethtool.js';
import { type Roots, discover, ibdev2netdevLine, listDevices } from '../../sysfs/rdma.js';
import { Owners } from './owners.js';
import { Session } from '../session.js';
import type { NCCL_OPTIONS } from './options.js';
import { AlertTracker, deviceRecord, ncclRecords, rdmaRecord } from './records.js';
import { RdmaSampler } from './sampler.js';

export type RdmaOptions = Resolved<typeof NCCL_OPTIONS> & { view: 'rdma' | 'nccl' };

export async function runRdma(o: RdmaOptions): Promise<void> {
  const roots: Roots = { sys: o.sysfsRoot, proc: o.procRoot };
  if (!existsSync(roots.sys)) throw usageError(`--sysfs-root: no directory ${roots.sys}`);
  const devs = listDevices(roots);
  if (!existsSync(join(roots.sys, 'class/infiniband')) || devs.length === 0)
    throw featureError(`no RDMA devices under ${join(roots.sys, 'class/infiniband')} (is an mlx5/ib driver loaded? --sysfs-root points elsewhere?)`);
  if (o.device && !devs.includes(o.device)) throw usageError(`-d/--device: no RDMA device '${o.device}' (available: ${devs.join(', ')})`);
  const ts = (): string => new Date().toISOString();
  const mine = () => discover(roots).filter((d) => !o.device || d.name === o.device);
  const infos = mine();
  if (o.port !== undefined && !infos.some((d) => d.ports.some((p) => p.port === o.port)))
    throw usageError(`--port: no port ${o.port} on ${o.device ?? 'any device'} (ports: ${[...new Set(infos.flatMap((d) => d.ports.map((p) => p.port)))].join(', ')})`);
  const sink = makeRdmaSink(o.output);
  if (o.list) {
    if (o.output === 'json') sink.records(infos.map((d) => deviceRecord(d, ts())));
    else process.stdout.write(infos.flatMap((d) => d.ports.filter((p) => o.port === undefined || p.port === o.port).map(ibdev2netdevLine)).join('\n') + '\n');
    return;
  }
  const session = new Session(o.view, { bpf: false });
  await session.run(o, async (metrics) => {
    sink.records(infos.map((d) => deviceRecord(d, ts())));
    // the net devices' driver statistics through the ethtool interface: this machine's only (a fixture tree has none)
    const own = roots.sys === '/sys';
    const sampler = new RdmaSampler(roots, { device: o.device, port: o.port }, own ? (n) => {
      const r = ethtoolStats(n);
      return 'stats' in r ? r.stats : null;
    } : undefined);
    const owners = new Owners(roots);
    const now = (): number => Number(process.hrtime.bigint() / 1_000_000n);
    const thresholds = { imbalanceRatio: o.imbalanceRatio, minGbps: o.minGbps, errorThreshold: o.errorThreshold, congestionRate: o.congestionRate, pauseRate: o.pauseRate, discardRate: o.discardRate };
    const alerts = new AlertTracker();
    let first = true;
    const read = (): void => {
      const { ports, events } = sampler.sample(now());
      const t = ts();
      const devices = [...new Map(ports.map((p) => [p.info.device, { name: p.info.device, driver: p.driver.driver }])).values()];
      const who = owners.read(devices);
      const rdma = ports.map((p) => rdmaRecord(p, t, o.errorThreshold));
      const recs: RdmaOut[] = events.map((message) => ({ type: 'rdma_event', ts: t, message }));
      let rails: NcclRecord[] = [];
      if (o.view === 'rdma') recs.push(...rdma);
      else {
        rails = ncclRecords(ports, who, t, thresholds);
        recs.push(...alerts.update(rails, t), ...rails);
      }
      if (first) first = false;
      else sink.records(recs);
      metrics?.records(infinibandMetrics(mine().map((d) => deviceRecord(d, t)), rdma, who, alerts.activeIds()));
    };
    read(); // the baseline for the first interval's deltas; the metrics have values from the start
    return { ready: `reading ${infos.map((d) => d.name).join(', ')} every ${o.intervalMs} ms`, tick: read, finish: read };
  });
}
