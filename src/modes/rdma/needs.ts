/** What the rdma and nccl modes need of the machine (`xtrace probe`). */
import { probePath } from '../../bpf/probe.js';
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
  ],
});
