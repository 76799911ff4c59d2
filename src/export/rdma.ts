/**
 * RDMA samples as Prometheus metrics, named as node_exporter's infiniband collector names them where
 * it has the counter (node_infiniband_*, data counters x 4 in bytes); the rest as xtrace_infiniband_*.
 * Unlike node_exporter, a counter the kernel does not expose (N/A (no PMA)) is absent, not 0.
 */
import type { RdmaDeviceRecord, RdmaProcessRecord, RdmaRecord } from '../records/index.js';
import type { Metric } from './prometheus.js';

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
export function infinibandMetrics(devices: RdmaDeviceRecord[], ports: RdmaRecord[], procs: RdmaProcessRecord[]): Metric[] {
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
      if (name.startsWith('netdev_')) add(`xtrace_infiniband_netdev_${name.slice('netdev_'.length)}_total`, `Statistic ${name.slice(7)} of the port's net device (/sys/class/net/<netdev>/statistics)`, 'counter', { ...l, netdev: r.netdev ?? '' }, value);
      else if (ne) add(`node_infiniband_${ne[0]}`, `sysfs counter ${name}${ne[1] === 4n ? ' x 4 (bytes)' : ''}`, 'counter', l, value * Number(ne[1]));
      else add(`xtrace_infiniband_${name.toLowerCase()}_total`, `sysfs counter ${name}`, 'counter', l, value);
    }
  }
  for (const p of procs)
    for (const device of p.devices)
      add('xtrace_rdma_process_info', 'A process holding the RDMA device open; nccl="true" when it maps libnccl. Value is always 1.', 'gauge', { device, pid: p.pid, comm: p.comm, nccl: String(p.nccl) }, 1);
  return [...byName.values()];
}
