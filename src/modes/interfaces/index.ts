/** `xtrace interfaces`: index, state, addresses, and what XDP/TC programs are attached. */
import { networkInterfaces } from 'node:os';
import { execa } from 'execa';
import { queryHooks } from '../../bpf/link.js';
import { defaultRouteInterface, listInterfaces } from '../../options/index.js';
import { columns } from '../../output/human.js';
import { readText } from '../../host/files.js';

export interface InterfaceRecord {
  type: 'interface';
  name: string;
  ifindex: number;
  state: string;
  mac: string;
  addresses: string[];
  xdp: string; // none | native | generic | offload | multi
  xdp_prog_id: number;
  /** null: the kernel would not say (needs privilege) */
  tcx_ingress: number | null;
  tcx_egress: number | null;
  tc_ingress: number; // classic cls_bpf filters
  tc_egress: number;
  default_route: boolean;
}

async function tcFilters(dev: string, dir: 'ingress' | 'egress'): Promise<number> {
  try {
    const r = await execa('tc', ['-j', 'filter', 'show', 'dev', dev, dir], { reject: false });
    if (r.exitCode !== 0 || !r.stdout.trim()) return 0;
    const arr = JSON.parse(r.stdout) as Array<{ kind?: string; options?: unknown }>;
    return arr.filter((f) => f.kind === 'bpf' && f.options).length;
  } catch {
    return 0;
  }
}

export async function collectInterfaces(defaultIface: string | null): Promise<InterfaceRecord[]> {
  const addrs = networkInterfaces();
  const read = (n: string, f: string): string => readText(`/sys/class/net/${n}/${f}`)?.trim() ?? '';
  return Promise.all(
    listInterfaces().map(async (i) => {
      const h = queryHooks(i.ifindex);
      return {
        type: 'interface' as const,
        name: i.name,
        ifindex: i.ifindex,
        state: read(i.name, 'operstate') || 'unknown',
        mac: read(i.name, 'address'),
        addresses: (addrs[i.name] ?? []).map((a) => a.cidr ?? a.address),
        xdp: h.xdp.mode,
        xdp_prog_id: h.xdp.progId,
        tcx_ingress: h.tcxIngress,
        tcx_egress: h.tcxEgress,
        tc_ingress: await tcFilters(i.name, 'ingress'),
        tc_egress: await tcFilters(i.name, 'egress'),
        default_route: i.name === defaultIface,
      };
    }),
  );
}

export function renderInterfaces(rs: InterfaceRecord[]): string {
  const hooks = (r: InterfaceRecord): string => {
    const parts: string[] = [];
    if (r.xdp !== 'none') parts.push(`xdp/${r.xdp} (prog ${r.xdp_prog_id})`);
    if (r.tcx_ingress === null || r.tcx_egress === null) parts.push('tcx: ? (needs root to see)');
    if (r.tcx_ingress) parts.push(`tcx/ingress x${r.tcx_ingress}`);
    if (r.tcx_egress) parts.push(`tcx/egress x${r.tcx_egress}`);
    if (r.tc_ingress) parts.push(`tc/ingress x${r.tc_ingress}`);
    if (r.tc_egress) parts.push(`tc/egress x${r.tc_egress}`);
    return parts.join(', ') || '-';
  };
  return columns(
    ['INDEX', 'NAME', 'STATE', 'ADDRESSES', 'BPF'],
    rs.map((r) => [String(r.ifindex), r.name + (r.default_route ? ' *' : ''), r.state, r.addresses.join(' ') || '-', hooks(r)]),
    new Set([0]),
  ) + '\n(* default route)\n';
}

export async function runInterfaces(output: 'table' | 'json'): Promise<void> {
  const rs = await collectInterfaces(defaultRouteInterface());
  process.stdout.write(output === 'json' ? rs.map((r) => JSON.stringify(r)).join('\n') + '\n' : renderInterfaces(rs));
}
