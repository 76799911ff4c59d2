/** Renderers for the rdma and nccl modes. */
import type { NcclRecord, RdmaDeviceRecord, RdmaOut, RdmaRecord } from '../records/index.js';
import { columns, humanBits } from './human.js';
import type { Sink } from '../records/index.js';
import { out } from './stdout.js';

const bits = (bytesPerS: number | undefined): string => (bytesPerS === undefined ? '-' : humanBits(bytesPerS * 8));
const pct = (u: number | undefined): string => (u === undefined ? '-' : `${(u * 100).toFixed(1)}%`);
const gb = (g: number | undefined): string => (g === undefined ? '-' : `${g.toFixed(2)} Gbit/s`);
const plus = (m: Record<string, number>): string =>
  Object.entries(m)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} +${v}`)
    .join(', ');

export function deviceBlock(d: RdmaDeviceRecord): string {
  const gpu = d.nearest_gpu ? `, nearest GPU ${d.nearest_gpu} (${d.nearest_gpu_topo})` : '';
  const head = `${d.device}: ${d.hca_type ?? 'unknown'} fw ${d.fw_ver ?? 'unknown'} board ${d.board_id ?? 'unknown'} guid ${d.node_guid ?? 'unknown'} pci ${d.pci ?? 'none'} numa ${d.numa_node ?? '-'}${gpu}`;
  return [head, ...d.ports.map((p) => `  port ${p.port}: ${p.state}/${p.phys_state} ${p.rate} ${p.link_layer} netdev ${p.netdev ?? '-'}`)].join('\n');
}

export function rdmaTable(rs: RdmaRecord[]): string {
  const t = columns(
    ['DEVICE', 'PORT', 'DRIVER', 'LINK', 'STATE', 'RATE', 'NETDEV', 'TX', 'RX', 'TX%', 'RX%', 'TX PKT/S', 'RX PKT/S', 'FROM'],
    rs.map((r) => [
      r.device, String(r.port), r.driver, r.link_layer, `${r.state}/${r.phys_state}`, r.rate || '-',
      r.netdev ? `${r.netdev} (${r.netdev_up === null ? '?' : r.netdev_up ? 'Up' : 'Down'})` : '-',
      bits(r.tx_bytes_per_s), bits(r.rx_bytes_per_s), pct(r.tx_util), pct(r.rx_util),
      r.tx_packets_per_s === undefined ? '-' : r.tx_packets_per_s.toFixed(0), r.rx_packets_per_s === undefined ? '-' : r.rx_packets_per_s.toFixed(0),
      sources(r.bytes_source, r.packets_source),
    ]),
    new Set([1, 7, 8, 9, 10, 11, 12]),
  );
  const extra = rs.flatMap((r) => {
    const lines: string[] = [];
    const e = plus(r.errors);
    if (e) lines.push(`  ! ${r.device}/${r.port} errors: ${e}`);
    const net = plus(Object.fromEntries(Object.entries(r.deltas).filter(([k]) => k.startsWith('netdev_') && k.endsWith('bytes'))));
    if (net) lines.push(`  ${r.device}/${r.port} ${r.netdev} (IP traffic) ${net}`);
    for (const n of r.notes) lines.push(`  ${r.device}/${r.port}: ${n}`);
    return lines;
  });
  return [t, ...extra].join('\n');
}

/** "counters", or "netdev/hw_counters" when bytes and packets come from different places */
const sources = (b: string | null, p: string | null): string => (b === p ? b ?? '-' : `${b ?? '-'}/${p ?? '-'}`);
const sum = (m: Record<string, number> | null): number => Object.values(m ?? {}).reduce((a, v) => a + v, 0);

export function ncclTable(rs: NcclRecord[]): string {
  const t = columns(
    ['RAIL', 'NETDEV', 'STATE', 'RATE', 'TX', 'RX', 'TX%', 'RX%', 'CONGESTION', 'RETRANS/LOSS', 'PAUSE/S', 'DISCARDS/S', 'ALERTS', 'JOBS', 'PROCESSES'],
    rs.map((r) => [
      `${r.device}/${r.port}`, r.netdev ?? '-', r.state, r.rate_gbps === null ? '-' : `${r.rate_gbps}G`, gb(r.tx_gbps), gb(r.rx_gbps),
      pct(r.tx_util), pct(r.rx_util), plus(r.congestion) || '-', plus({ ...r.retrans, ...r.errors, ...r.link }) || '-',
      r.pause ? `${r.pause.rx_per_s.toFixed(0)} rx ${r.pause.tx_per_s.toFixed(0)} tx` : '-', r.discards_per_s ? sum(r.discards_per_s).toFixed(1) : '-',
      String(r.alerts.length), r.jobs.join(' ') || '-',
      r.processes.map((p) => `${p.comm}[${p.pid}]${p.nccl ? '*' : ''}`).join(' ') || '-',
    ]),
    new Set([4, 5, 6, 7, 10, 11]),
  );
  const extra = rs.flatMap((r) => {
    const lines: string[] = [];
    const o = plus(r.other);
    if (o) lines.push(`  ${r.device}/${r.port} other counters: ${o}`);
    if (r.processes.length && r.qp_counters !== 'per pid') lines.push(`  ${r.device}/${r.port} per-process counters: ${r.qp_counters}`);
    for (const p of r.processes) if (p.counters) lines.push(`  ${r.device}/${r.port} ${p.comm}[${p.pid}] ${p.job ?? ''}: ${plus(p.counters) || 'no counts'}`);
    return lines;
  });
  return [t, '  (* maps libnccl)', ...extra].join('\n');
}

/** The rdma and nccl modes' records (they have no per-packet ones). */
export function makeRdmaSink(format: 'table' | 'json' | 'text', write: (s: string) => void = out): Sink<RdmaOut, never> {
  const none = (): void => undefined;
  if (format === 'json') return { records: (rs) => write(rs.map((r) => JSON.stringify(r)).join('\n') + (rs.length ? '\n' : '')), event: none, flush: none };
  const records = (rs: readonly RdmaOut[]): void => {
    const lines: string[] = [];
    for (const r of rs) {
      if (r.type === 'rdma_device') lines.push(deviceBlock(r));
      if (r.type === 'rdma_event') lines.push(`! ${r.message}`);
      if (r.type === 'alert') lines.push(`${r.state === 'raised' ? `! alert ${r.id}` : `cleared ${r.id}`}: ${r.message}${r.jobs.length ? ` (jobs: ${r.jobs.join(', ')})` : ''}`);
    }
    const rdma = rs.filter((r): r is RdmaRecord => r.type === 'rdma');
    const nccl = rs.filter((r): r is NcclRecord => r.type === 'nccl');
    const ts = rs.find((r) => r.type === 'rdma' || r.type === 'nccl')?.ts;
    if (ts) lines.push(`--- ${ts}`);
    if (format === 'table') {
      if (rdma.length) lines.push(rdmaTable(rdma));
      if (nccl.length) lines.push(ncclTable(nccl));
    } else {
      for (const r of rdma)
        lines.push(`${r.device}/${r.port} ${r.link_layer} ${r.state} tx ${bits(r.tx_bytes_per_s)} rx ${bits(r.rx_bytes_per_s)} util ${pct(r.tx_util)}/${pct(r.rx_util)}${plus(r.errors) ? ` errors ${plus(r.errors)}` : ''}${r.notes.map((n) => `; ${n}`).join('')}`);
      for (const r of nccl)
        lines.push(`${r.device}/${r.port} tx ${gb(r.tx_gbps)} rx ${gb(r.rx_gbps)} congestion ${plus(r.congestion) || '-'} retrans ${plus(r.retrans) || '-'} alerts ${r.alerts.length}`);
    }
    if (lines.length) write(lines.join('\n') + '\n');
  };
  return { records, event: none, flush: none };
}
