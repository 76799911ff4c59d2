/** The rdma and nccl modes' options, as data (src/options/spec.ts). */
import { usageError } from '../../errors.js';
import { interval, exportOptions, readyFile, recordOutput } from '../../options/common.js';
import { parseInteger } from '../../options/index.js';
import { flag, optional, value } from '../../options/spec.js';

/** A decimal number in a range, e.g. (0, 1] for a ratio. */
export function parseNumber(v: string, from: string, what: string, ok: (n: number) => boolean): number {
  const n = /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (!ok(n)) throw usageError(`${from}: expected ${what}, got '${v}'`);
  return n;
}

const rdmaCommon = {
  device: optional('-d, --device <name>', 'one RDMA device, e.g. mlx5_0 (default: all)', (v) => v, { env: ['DEVICE'] }),
  port: optional('--port <n>', 'one port number (from 1)', (v, from) => parseInteger(v, from, 1, 255)),
  intervalMs: interval(),
  output: recordOutput(),
  list: flag('--list', 'list devices and ports with their net devices (ibdev2netdev) and exit'),
  errorThreshold: value('--error-threshold <n>', 'highlight an error counter whose interval delta exceeds n', (v, from) => parseInteger(v, from, 0, Number.MAX_SAFE_INTEGER), {
    default: '0',
  }),
  sysfsRoot: value('--sysfs-root <dir>', 'directory standing for /sys', (v) => v, { env: ['XTRACE_SYSFS_ROOT'], default: '/sys' }),
  procRoot: value('--proc-root <dir>', 'directory standing for /proc', (v) => v, { env: ['XTRACE_PROC_ROOT'], default: '/proc' }),
  ...exportOptions(':9435 (node_exporter names)'),
  readyFile: readyFile(),
};

export const RDMA_OPTIONS = rdmaCommon;

export const NCCL_OPTIONS = {
  ...rdmaCommon,
  imbalanceRatio: value('--imbalance-ratio <r>', 'flag a rail whose utilisation (share of its link rate) is below r times the busiest rail\'s', (v, from) => parseNumber(v, from, 'a number in (0, 1]', (n) => n > 0 && n <= 1), {
    default: '0.5',
  }),
  minGbps: value('--min-gbps <g>', 'judge balance only when the busiest rail carries at least g Gbit/s (TX+RX)', (v, from) => parseNumber(v, from, 'a number of Gbit/s >= 0', (n) => n >= 0), {
    default: '1',
  }),
  congestionRate: value('--congestion-threshold <n>', 'a rail is congested over n congestion notifications a second (CNPs sent, handled, ignored; ECN-marked packets)', (v, from) => parseNumber(v, from, 'a number >= 0', (n) => n >= 0), {
    default: '1000',
  }),
  pauseRate: value('--pause-threshold <n>', 'a rail is paused over n PFC/pause frames a second (received and sent, every priority)', (v, from) => parseNumber(v, from, 'a number >= 0', (n) => n >= 0), {
    default: '100',
  }),
  discardRate: value('--discard-threshold <n>', 'a rail drops over n NIC discards a second (rx_discards_phy, rx_out_of_buffer, ...)', (v, from) => parseNumber(v, from, 'a number >= 0', (n) => n >= 0), {
    default: '1',
  }),
};
