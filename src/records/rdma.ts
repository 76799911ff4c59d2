/** Records of the rdma and nccl modes. */
export interface RdmaPortRecord {
  port: number;
  state: string;
  phys_state: string;
  rate: string;
  link_layer: string;
  lid: string | null;
  netdev: string | null;
  netdev_up: boolean | null;
}

export interface RdmaDeviceRecord {
  type: 'rdma_device';
  ts: string;
  device: string;
  hca_type: string | null;
  fw_ver: string | null;
  board_id: string | null;
  node_guid: string | null;
  sys_image_guid: string | null;
  pci: string | null;
  numa_node: number | null;
  nearest_gpu: string | null;
  nearest_gpu_topo: string | null;
  ports: RdmaPortRecord[];
}

export interface RdmaRecord {
  type: 'rdma';
  ts: string;
  device: string;
  port: number;
  link_layer: string;
  state: string;
  /** the number sysfs gives the state (4 for ACTIVE); null when it gives none */
  state_id: number | null;
  phys_state: string;
  phys_state_id: number | null;
  rate: string;
  rate_gbps: number | null;
  netdev: string | null;
  netdev_up: boolean | null;
  interval_s: number | null;
  tx_bytes_per_s?: number;
  rx_bytes_per_s?: number;
  tx_packets_per_s?: number;
  rx_packets_per_s?: number;
  tx_util?: number;
  rx_util?: number;
  /**
   * Cumulative values, names as the kernel has them (net device statistics prefixed netdev_): the
   * first value read plus every increase since, so a 32-bit hardware counter that wraps keeps rising.
   */
  counters: Record<string, number>;
  /** increase over the last interval */
  deltas: Record<string, number>;
  /** error counters that moved this interval */
  errors: Record<string, number>;
  notes: string[];
}

export interface NcclRecord {
  type: 'nccl';
  ts: string;
  device: string;
  port: number;
  netdev: string | null;
  link_layer: string;
  state: string;
  rate_gbps: number | null;
  tx_gbps?: number;
  rx_gbps?: number;
  tx_util?: number;
  rx_util?: number;
  congestion: Record<string, number>;
  retrans: Record<string, number>;
  link: Record<string, number>;
  processes: Array<{ pid: number; comm: string; nccl: boolean }>;
  /** the conditions active on this rail in this interval, as text */
  alerts: string[];
  /** their stable ids, in the same order (see `alert` records) */
  alert_ids: string[];
}

/** An alert raised (once, when its condition starts) or cleared (once, when it ends). */
export interface AlertRecord {
  type: 'alert';
  ts: string;
  /** stable while the condition lasts: "mlx5_1/1:imbalance", "mlx5_1/1:error:link_downed", "mlx5_1/1:rate", "mlx5_1/1:state" */
  id: string;
  state: 'raised' | 'cleared';
  device: string;
  port: number;
  /** the condition, as it was when raised (and, when cleared, how long it lasted) */
  message: string;
  /** when it was raised (on a cleared alert) */
  since?: string;
}

export interface RdmaEventRecord {
  type: 'rdma_event';
  ts: string;
  message: string;
}

/** A process holding an RDMA device open. */
export interface RdmaProcessRecord {
  pid: number;
  comm: string;
  devices: string[];
  nccl: boolean;
}

export type RdmaOut = RdmaRecord | NcclRecord | RdmaDeviceRecord | RdmaEventRecord | AlertRecord;
