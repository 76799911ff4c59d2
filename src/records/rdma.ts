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

/** Where a port's bytes or packets are counted (README: RDMA, rate sources). */
export type RateSource = 'counters' | 'hw_counters' | 'netdev';

export interface RdmaRecord {
  type: 'rdma';
  ts: string;
  device: string;
  port: number;
  /** the driver whose counter table classified its counters: mlx5, rxe, bnxt_re, irdma, unknown */
  driver: string;
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
  /** where tx/rx_bytes_per_s come from (null: the port has no byte counter) */
  bytes_source: RateSource | null;
  /** where tx/rx_packets_per_s come from */
  packets_source: RateSource | null;
  tx_bytes_per_s?: number;
  rx_bytes_per_s?: number;
  tx_packets_per_s?: number;
  rx_packets_per_s?: number;
  tx_util?: number;
  rx_util?: number;
  /** pause frames a second of its net device (ethtool statistics), received and sent; absent without them */
  pause_per_s?: { rx: number; tx: number };
  /** its net device's discards a second (ethtool statistics: rx_discards_phy, rx_out_of_buffer, ...) */
  discards_per_s?: number;
  /**
   * Cumulative values, names as the kernel has them (net device statistics prefixed netdev_): the
   * first value read plus every increase since, so a 32-bit hardware counter that wraps keeps rising.
   */
  counters: Record<string, number>;
  /** increase over the last interval */
  deltas: Record<string, number>;
  /** counters of the retrans, link and errors families (the driver's table) that moved over --error-threshold this interval */
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
  driver: string;
  bytes_source: RateSource | null;
  /** the interval's increases, by family of the driver's table */
  congestion: Record<string, number>;
  retrans: Record<string, number>;
  link: Record<string, number>;
  errors: Record<string, number>;
  /** counters no table names that moved (shown as they are) */
  other: Record<string, number>;
  /** the processes on the rail's device: owners of its QPs (RDMA netlink) and holders of its verbs device (/proc), with their jobs */
  processes: Array<{ pid: number; comm: string; nccl: boolean; job: string | null; qps: number; counters?: Record<string, number> }>;
  /** the jobs of those processes: slurm:<id>, pod:<uid>, docker:<name> */
  jobs: string[];
  /** per-process counters: "per pid" where the device binds a counter to each process's QPs, else why not */
  qp_counters: string;
  /** the interval's pauses of its net device, per second (null: no ethtool statistics, or the first read) */
  pause: {
    rx_per_s: number;
    tx_per_s: number;
    /** by priority ("0".."7") and link-level ("global") */
    rx_by_priority: Record<string, number>;
    tx_by_priority: Record<string, number>;
    /** the share of the interval paused (pause duration, mlx5) */
    rx_paused_fraction: number;
    tx_paused_fraction: number;
    /** other pause statistics, as the driver names them */
    other: Record<string, number>;
  } | null;
  /** the interval's discards of its net device, per second, by statistic (null: no ethtool statistics) */
  discards_per_s: Record<string, number> | null;
  /** the conditions active on this rail in this interval, as text */
  alerts: string[];
  /** their stable ids, in the same order (see `alert` records) */
  alert_ids: string[];
}

/** An alert raised (once, when its condition starts) or cleared (once, when it ends). */
export interface AlertRecord {
  type: 'alert';
  ts: string;
  /** stable while the condition lasts: "mlx5_1/1:imbalance", "mlx5_1/1:congestion", "mlx5_1/1:pause", "mlx5_1/1:discards", "mlx5_1/1:error:link_downed", "mlx5_1/1:rate", "mlx5_1/1:state" */
  id: string;
  state: 'raised' | 'cleared';
  device: string;
  port: number;
  /** the condition, as it was when raised (and, when cleared, how long it lasted) */
  message: string;
  /** when it was raised (on a cleared alert) */
  since?: string;
  /** the jobs on the rail when it was raised */
  jobs: string[];
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
