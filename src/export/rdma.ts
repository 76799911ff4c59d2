/**
 * RDMA samples as Prometheus metrics, named as node_exporter's infiniband collector names them where
 * it has the counter (node_infiniband_*, data counters x 4 in bytes); the rest as xtrace_infiniband_*.
 * Unlike node_exporter, a counter the kernel does not expose (N/A (no PMA)) is absent, not 0.
 */
import { type RdmaDeviceRecord, type RdmaRecord, ethtoolKind } from '../records/index.js';
import type { Metric } from './metric.js';

/** sysfs name -> [node_exporter metric (without node_infiniband_), multiplier] */
const NODE_EXPORTER: Record<string, [string, bigint]> = {
  link_downed: ['link_downed_total', 1n],
  link_error_recovery: ['link_error_recovery_total', 1n],
  multicast_rcv_packets: ['multicast_packets_received_total', 1n],
  multicast_xmit_packets: ['multicast_packets_transmitted_total', 1n],
  port_rcv_data: ['port_data_received_bytes_total', 4n],
  port_xmit_data: ['port_data_transmitted_bytes_total', 4n],
  unicast_rcv_packets: ['unicast_packets_received_total', 1n],
  unicast_xmit_packets: ['unicast_packets_transmitted_total', 1n],
  excessive_buffer_overrun_errors: ['excessive_buffer_overrun_errors_total', 1n],
  local_link_integrity_errors: ['local_link_integrity_errors_total', 1n],
  port_rcv_constraint_errors: ['port_constraint_errors_received_total', 1n],
  port_xmit_constraint_errors: ['port_constraint_errors_transmitted_total', 1n],
  port_xmit_discards: ['port_discards_transmitted_total', 1n],
  port_rcv_errors: ['port_errors_received_total', 1n],
  port_rcv_packets: ['port_packets_received_total', 1n],
  port_xmit_packets: ['port_packets_transmitted_total', 1n],
  port_xmit_wait: ['port_transmit_wait_total', 1n],
  port_rcv_remote_physical_errors: ['port_receive_remote_physical_errors_total', 1n],
  port_rcv_switch_relay_errors: ['port_receive_switch_relay_errors_total', 1n],
  symbol_error: ['symbol_error_total', 1n],
  VL15_dropped: ['vl15_dropped_total', 1n],
  port_xmit_data_64: ['legacy_data_transmitted_bytes_total', 4n],
  port_rcv_data_64: ['legacy_data_received_bytes_total', 4n],
  port_xmit_packets_64: ['legacy_packets_transmitted_total', 1n],
  port_rcv_packets_64: ['legacy_packets_received_total', 1n],
  unicast_xmit_packets_64: ['legacy_unicast_packets_transmitted_total', 1n],
  unicast_rcv_packets_64: ['legacy_unicast_packets_received_total', 1n],
  multicast_xmit_packets_64: ['legacy_multicast_packets_transmitted_total', 1n],
  multicast_rcv_packets_64: ['legacy_multicast_packets_received_total', 1n],
};

/**
 * Counters come from the records' `counters`, which keep rising across a 32-bit hardware counter's
 * wrap (extended by their deltas): every `_total` here is monotonic.
 */
/** At most this many jobs a device get their own job label; the rest are counted under job="other". */
export const MAX_JOBS_PER_DEVICE = 32;

/** A rail's owners as the metrics see them (src/modes/rdma/owners.ts fills it). */
export interface RailOwners {
  owners: ReadonlyArray<{ pid: number; comm: string; nccl: boolean; job: string | null }>;
  jobs: readonly string[];
}


export function infinibandMetrics(
  devices: RdmaDeviceRecord[],
  ports: RdmaRecord[],
  owners: ReadonlyMap<string, RailOwners>,
  alerts: ReadonlyArray<{ id: string; device: string; port: number }> = [],
): Metric[] {
  const byName = new Map<string, Metric>();
  const add = (name: string, help: string, type: Metric['type'], labels: Record<string, string | number>, value: number): void => {
    let m = byName.get(name);
    if (!m) byName.set(name, (m = { name, help, type, samples: [] }));
    m.samples.push({ labels, value });
  };
  for (const d of devices)
    add('node_infiniband_info', 'Non-numeric data from /sys/class/infiniband/<device>, value is always 1.', 'gauge',
      { device: d.device, board_id: d.board_id ?? '', firmware_version: d.fw_ver ?? '', hca_type: d.hca_type ?? '' }, 1);
  for (const r of ports) {
    const l = { device: r.device, port: r.port };
    if (r.state_id !== null) add('node_infiniband_state_id', 'State of the InfiniBand port (1: down, 2: init, 3: armed, 4: active, 5: act defer)', 'gauge', l, r.state_id);
    if (r.phys_state_id !== null) add('node_infiniband_physical_state_id', 'Physical state of the InfiniBand port (1: sleep, 2: polling, 3: disabled, 4: training, 5: link up, 6: link error recovery, 7: phy test)', 'gauge', l, r.phys_state_id);
    if (r.rate_gbps !== null) add('node_infiniband_rate_bytes_per_second', 'Maximum signal transfer rate', 'gauge', l, r.rate_gbps * 125_000_000);
    for (const [name, value] of Object.entries(r.counters)) {
      const ne = NODE_EXPORTER[name];
      if (name.startsWith('ethtool_')) {
        const stat = name.slice('ethtool_'.length);
        const nl = { ...l, netdev: r.netdev ?? '' };
        const k = ethtoolKind(stat);
        if (k?.kind === 'pause') add('xtrace_rdma_pause_frames_total', "Pause frames of the port's net device (ethtool statistics): direction rx (the peer paused this port) or tx, priority 0-7 (PFC) or global", 'counter', { ...nl, direction: k.direction, priority: k.priority }, value);
        else if (k?.kind === 'pause_us') add('xtrace_rdma_pause_duration_seconds_total', "Time paused (ethtool statistics' *_pause_duration, microseconds / 1e6)", 'counter', { ...nl, direction: k.direction, priority: k.priority }, value / 1e6);
        else if (k?.kind === 'pause_other') add('xtrace_rdma_pause_other_total', "Other pause statistics of the port's net device, as its driver names them", 'counter', { ...nl, stat }, value);
        else if (k?.kind === 'discard') add('xtrace_rdma_discards_total', "Discards of the port's net device (ethtool statistics: rx_discards_phy, rx_out_of_buffer, ...), as its driver names them", 'counter', { ...nl, stat }, value);
        continue;
      }
      if (name.startsWith('netdev_')) add(`xtrace_infiniband_netdev_${name.slice('netdev_'.length)}_total`, `Statistic ${name.slice(7)} of the port's net device (/sys/class/net/<netdev>/statistics)`, 'counter', { ...l, netdev: r.netdev ?? '' }, value);
      else if (ne) add(`node_infiniband_${ne[0]}`, `sysfs counter ${name}${ne[1] === 4n ? ' x 4 (bytes)' : ''}`, 'counter', l, value * Number(ne[1]));
      else add(`xtrace_infiniband_${name.toLowerCase()}_total`, `sysfs counter ${name}`, 'counter', l, value);
    }
  }
  for (const [device, o] of owners) {
    for (const p of o.owners)
      add('xtrace_rdma_process_info', 'A process on the RDMA device (owner of a QP, or holding it open); nccl="true" when it maps libnccl; job its Slurm job, pod or container. Value is always 1.', 'gauge', { device, pid: p.pid, comm: p.comm, nccl: String(p.nccl), job: p.job ?? '' }, 1);
    const jobs = o.jobs.slice(0, MAX_JOBS_PER_DEVICE);
    for (const job of jobs) add('xtrace_rdma_job_info', 'A job with processes on the RDMA device (join on device). Value is always 1.', 'gauge', { device, job }, 1);
    if (o.jobs.length > jobs.length) add('xtrace_rdma_job_info', 'A job with processes on the RDMA device (join on device). Value is always 1.', 'gauge', { device, job: 'other' }, o.jobs.length - jobs.length);
  }
  for (const a of alerts)
    add('xtrace_rdma_alert', 'A condition raised on a rail and not yet cleared (kind: congestion, pause, discards, imbalance, error:<counter>, rate, state). Value is always 1.', 'gauge', { device: a.device, port: a.port, kind: a.id.slice(a.id.indexOf(':') + 1) }, 1);
  return [...byName.values()];
}
