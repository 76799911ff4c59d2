/** `xtrace probe`: the kernel and libbpf features xtrace relies on, as named, cached probes. */
import { allProbes } from '../../bpf/probe.js';
import { columns } from '../../output/human.js';

export async function runProbe(output: 'table' | 'json'): Promise<void> {
  const rs = allProbes();
  process.stdout.write(
    output === 'json'
      ? rs.map((r) => JSON.stringify({ type: 'probe', ...r })).join('\n') + '\n'
      : columns(['FEATURE', 'STATUS', 'DETAIL'], rs.map((r) => [r.name, r.status, r.detail]), new Set()) + '\n',
  );
}
