/** What the rdma and nccl modes need of the machine (`xtrace probe`). */
import { type ProbeResult, probePath } from '../../bpf/probe.js';
import type { ModeNeeds } from '../needs.js';

const sysfsRoot = (): string => process.env.XTRACE_SYSFS_ROOT ?? '/sys';

export const RDMA_NEEDS = (): ModeNeeds => ({
  bpf: false,
  needs: [
    {
      feature: 'sysfs infiniband',
      required: true,
      use: 'RDMA port counters',
      probe: () => probePath(`${sysfsRoot()}/class/infiniband`, `no ${sysfsRoot()}/class/infiniband (no RDMA driver loaded)`),
    },
    {
      feature: 'rdma netlink',
      required: false,
      use: 'the QPs of each device with their pid (the processes and jobs on a rail); /proc alone finds those holding a device open',
      probe: async (): Promise<ProbeResult> => {
        try {
          const n = (await import('../../sysfs/rdma-netlink.js')).rdmaNlDevices().length;
          return { name: 'rdma netlink', status: 'supported', detail: `${n} device${n === 1 ? '' : 's'}` };
        } catch (e) {
          return { name: 'rdma netlink', status: 'missing', detail: `${(e as Error).message} (ib_core not loaded?)` };
        }
      },
    },
  ],
});
