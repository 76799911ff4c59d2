/** The stack mode's options, as data (src/options/spec.ts). Short flags as the BCC tool had them. */
import { interval, exportOptions, readyFile, recordOutput, verbose } from '../../options/common.js';
import { parseNetns, parsePort, parseRate, parseSingleNet } from '../../options/index.js';
import { flag, optional, value } from '../../options/spec.js';

/** The kernel object the mode loads (build/bpf/, or $XTRACE_BPF_DIR). */
export const STACK_OBJECT = 'stack.bpf.o';

export const STACK_OPTIONS = {
  ip: optional('-i, --ip <ip>', 'only packets from or to this IP or CIDR (filtered in the kernel)', (v, from) => parseSingleNet(v, from)),
  port: optional('-p, --port <port>', 'only packets from or to this TCP port (filtered in the kernel)', (v, from) => parsePort(v, from)),
  netns: optional(
    '--netns <pid|name>',
    'watch this network namespace at every stage: a PID (its namespace) or a name from ip netns list (netfilter hooks go there, the others filter in the kernel)',
    parseNetns,
  ),
  stats: flag('-s, --stats', 'no per-packet lines: per-stage packet counts and latency histograms (log2, in the kernel) every interval'),
  debugFunc: flag('-d, --debug-func', 'show, per stage, the hooks tried, which one serves and why the others were refused'),
  rateLimit: value('--rate-limit <n>', 'per-packet events per second, K/M suffix allowed, 0 = unlimited; the rest are counted as suppressed', (v, from) => parseRate(v, from, 100_000_000), {
    default: '10000',
  }),
  intervalMs: interval(),
  output: recordOutput(),
  ...exportOptions(':9437'),
  readyFile: readyFile(),
  verbose: verbose(),
};
