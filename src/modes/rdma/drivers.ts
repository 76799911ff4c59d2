/**
 * What each RDMA driver's counters mean, one table a driver (mlx5's from its driver and documentation;
 * rxe's checked against the 6.1 guest's Soft-RoCE; bnxt_re's and irdma's from their drivers, not run
 * here): where a port's bytes and packets come
 * from, and which counters are congestion, retransmission, link health or errors. A counter no table
 * names is shown as it is (under `other`), never dropped. Names as the kernel has them in
 * counters/ and hw_counters/ (and netdev_* for the net device's statistics).
 */

export type Family = 'congestion' | 'retrans' | 'link' | 'errors';

export interface DriverTable {
  driver: string;
  /** hw_counters that carry the port's traffic (bytes and packets, as the driver counts them) */
  traffic?: { txBytes?: string; rxBytes?: string; txPackets?: string; rxPackets?: string };
  families: Record<Family, readonly string[]>;
  /** counters the table knows that are work done, not a condition (RDMA writes received, sends) */
  info?: readonly string[];
}

/** IBA PortCounters (counters/): every IB and mlx5 port has them; rxe has none. */
const PORT_COUNTERS: Record<Family, readonly string[]> = {
  congestion: ['port_xmit_wait'],
  retrans: [],
  link: ['link_downed', 'link_error_recovery', 'symbol_error', 'local_link_integrity_errors', 'excessive_buffer_overrun_errors'],
  errors: ['port_rcv_errors', 'port_rcv_remote_physical_errors', 'port_rcv_switch_relay_errors', 'port_xmit_discards', 'port_xmit_constraint_errors', 'port_rcv_constraint_errors', 'VL15_dropped'],
};

/** The net device's own error statistics, on every RoCE port. */
const NETDEV_ERRORS = ['netdev_rx_errors', 'netdev_tx_errors', 'netdev_rx_dropped', 'netdev_tx_dropped'];

const join = (a: Record<Family, readonly string[]>, b: Partial<Record<Family, readonly string[]>>): Record<Family, readonly string[]> => ({
  congestion: [...a.congestion, ...(b.congestion ?? [])],
  retrans: [...a.retrans, ...(b.retrans ?? [])],
  link: [...a.link, ...(b.link ?? [])],
  errors: [...a.errors, ...(b.errors ?? []), ...NETDEV_ERRORS],
});

export const DRIVERS: readonly DriverTable[] = [
  {
    driver: 'mlx5',
    families: join(PORT_COUNTERS, {
      congestion: ['np_cnp_sent', 'rp_cnp_handled', 'rp_cnp_ignored', 'np_ecn_marked_roce_packets', 'cc_rx_ce_pkts', 'cc_rx_cnp_pkts', 'cc_tx_cnp_pkts'],
      retrans: ['out_of_sequence', 'packet_seq_err', 'local_ack_timeout_err', 'implied_nak_seq_err', 'rnr_nak_retry_err', 'roce_adp_retrans', 'roce_adp_retrans_to', 'roce_slow_restart', 'duplicate_request', 'out_of_buffer'],
      errors: [
        'req_transport_retries_exceeded', 'req_rnr_retries_exceeded', 'resp_local_length_error', 'resp_cqe_error', 'req_cqe_error', 'req_remote_invalid_request',
        'req_remote_access_errors', 'resp_remote_access_errors', 'resp_cqe_flush_error', 'req_cqe_flush_error',
      ],
    }),
    info: ['rx_write_requests', 'rx_read_requests', 'rx_atomic_requests', 'rx_dct_connect', 'roce_slow_restart_cnps', 'roce_slow_restart_trans', 'rx_icrc_encapsulated'],
  },
  {
    // Soft-RoCE: 15 port hw_counters (6.1), packets only; bytes come from the net device
    driver: 'rxe',
    traffic: { txPackets: 'sent_pkts', rxPackets: 'rcvd_pkts' },
    families: join(PORT_COUNTERS, {
      retrans: ['duplicate_request', 'out_of_seq_request', 'rcvd_seq_err', 'completer_retry_err', 'rcvd_rnr_err', 'send_rnr_err'],
      link: [],
      errors: ['retry_exceeded_err', 'retry_rnr_exceeded_err', 'send_err'],
    }),
    info: ['rdma_sends', 'rdma_recvs', 'ack_deferred'],
  },
  {
    driver: 'bnxt_re',
    traffic: { txBytes: 'tx_bytes', rxBytes: 'rx_bytes', txPackets: 'tx_pkts', rxPackets: 'rx_pkts' },
    families: join(PORT_COUNTERS, {
      congestion: ['tx_cnp_pkts', 'rx_cnp_pkts', 'rx_ecn_marked_pkts'],
      retrans: ['to_retransmits', 'seq_err_naks_rcvd', 'rnr_naks_rcvd', 'dup_req', 'res_oos_drop_count'],
      errors: ['rx_roce_errors', 'rx_roce_discards', 'recoverable_errors', 'max_retry_exceeded', 'missing_resp'],
    }),
  },
  {
    driver: 'irdma',
    traffic: { txBytes: 'ip4OutOctets', rxBytes: 'ip4InOctets', txPackets: 'ip4OutPkts', rxPackets: 'ip4InPkts' },
    families: join(PORT_COUNTERS, {
      congestion: ['cnpSent', 'cnpHandled', 'cnpIgnored', 'RxECNMrkd'],
      retrans: ['tcpRetransSegs'],
      errors: ['ip4InDiscards', 'ip4InTruncatedPkts', 'ip6InDiscards', 'ip6InTruncatedPkts', 'tcpRxOptErr', 'tcpRxProtoErr', 'RxVlanErr'],
    }),
  },
];

/** Any other driver: the standard port counters and the net device's errors; the rest under `other`. */
export const GENERIC: DriverTable = { driver: 'unknown', families: join(PORT_COUNTERS, {}) };

/** The kernel driver of a device: its PCI function's driver (mlx5_core, bnxt_en, ice), rxe's counters, else its name. */
export function driverOf(d: { name: string; pciDriver: string | null; hwCounters: ReadonlySet<string> }): DriverTable {
  const byName = (n: string): DriverTable | undefined => DRIVERS.find((t) => t.driver === n);
  const pci: Record<string, string> = { mlx5_core: 'mlx5', bnxt_en: 'bnxt_re', ice: 'irdma', i40e: 'irdma' };
  if (d.pciDriver && pci[d.pciDriver]) return byName(pci[d.pciDriver]!)!;
  if (d.hwCounters.has('sent_pkts') && d.hwCounters.has('rcvd_pkts')) return byName('rxe')!;
  const prefix = /^(mlx5|rxe|bnxt_re|irdma)/.exec(d.name)?.[1];
  return (prefix && byName(prefix)) || GENERIC;
}

/** A counter's family in this driver's table; null: none (shown under `other`). */
export function familyOf(t: DriverTable, counter: string): Family | null {
  for (const f of ['congestion', 'retrans', 'link', 'errors'] as const) if (t.families[f].includes(counter)) return f;
  return null;
}

/** Counters that are the port's traffic or plain bookkeeping, not a condition: never under `other`. */
export function isTraffic(t: DriverTable, counter: string): boolean {
  if (/^(port_(xmit|rcv)_(data|packets)(_64)?|(unicast|multicast)_(xmit|rcv)_packets)$/.test(counter)) return true;
  if (counter.startsWith('netdev_')) return true;
  return Object.values(t.traffic ?? {}).includes(counter) || (t.info ?? []).includes(counter);
}
