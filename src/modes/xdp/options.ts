/** The xdp mode's options, as data (src/options/spec.ts). */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { usageError } from '../../errors.js';
import { interval, exportOptions, readyFile, recordOutput, verbose } from '../../options/common.js';
import {
  PROTOCOLS, defaultRouteInterface, listInterfaces, parseChoice, parseInteger, parseInterfaces, parseNetList, parsePort, parseProtocols, parseRate,
  parseSingleNet,
} from '../../options/index.js';
import { flag, optional, value } from '../../options/spec.js';
import type { Iface } from '../../options/index.js';
import { FLOW_KEY, FLOW_VAL, XT_MAX_IFACES } from './layout.js';

/** The kernel object the mode loads (build/bpf/, or $XTRACE_BPF_DIR). */
export const XDP_OBJECT = 'flow.bpf.o';

/** CPUs the kernel sizes per-CPU maps for (/sys/devices/system/cpu/possible, e.g. "0-63"). */
export function possibleCpuCount(path = '/sys/devices/system/cpu/possible'): number {
  try {
    let n = 0;
    for (const part of readFileSync(path, 'utf8').trim().split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a! + 1;
    }
    return n > 0 ? n : 1;
  } catch {
    return 1;
  }
}

/** What one flow costs in the kernel: the key, a per-CPU value (rounded to 8) for every CPU, and the hash element's own ~64 bytes. */
export const bytesPerFlow = (cpus: number): number => FLOW_KEY.size + 64 + Math.ceil(FLOW_VAL.size / 8) * 8 * cpus;

/**
 * --max-flows bounds. Lower: the LRU keeps up to 128 free entries per CPU in per-CPU lists, so a table
 * under 256 per CPU evicts long before it is full. Upper: the per-CPU values are preallocated on every
 * CPU, so the table may take at most a quarter of the memory (and at most 16M entries).
 */
export function maxFlowsBounds(cpus = possibleCpuCount(), memBytes = totalmem()): { min: number; max: number } {
  const min = Math.max(1024, 256 * cpus);
  const max = Math.max(min, Math.min(16_777_216, Math.floor(memBytes / 4 / bytesPerFlow(cpus))));
  return { min, max };
}

export function parseMaxFlows(v: string, from: string, b = maxFlowsBounds(), cpus = possibleCpuCount()): number {
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < b.min || Number(v) > b.max)
    throw usageError(
      `${from}: expected a whole number from ${b.min} to ${b.max} (at least 256 per CPU; at most a quarter of memory at ${bytesPerFlow(cpus)} bytes a flow on ${cpus} CPUs), got '${v}'`,
    );
  return Number(v);
}

function parseIfaces(v: string, from: string): Iface[] {
  const l = parseInterfaces(v, from);
  if (l.length > XT_MAX_IFACES) throw usageError(`${from}: at most ${XT_MAX_IFACES} interfaces in one run, got ${l.length}`);
  return l;
}

/** -w's file; an address there is the old -w (now --watch-ip), said so rather than written to a file named like one. */
export function parseWriteFile(v: string, from: string): string {
  if (/^[0-9a-fA-F.:]+(\/\d+)?(,[0-9a-fA-F.:]+(\/\d+)?)*$/.test(v) && /[.:]/.test(v) && !/\.pcap(ng)?$/.test(v))
    throw usageError(`${from}: expected a file to write pcapng to (or - for stdout), got '${v}'; to count an address's traffic use --watch-ip ${v}`);
  if (!v) throw usageError(`${from}: expected a file to write pcapng to, or - for stdout`);
  return v;
}

export const XDP_OPTIONS = {
  ifaces: value('-i, --iface <names>', `interfaces, comma-separated (at most ${XT_MAX_IFACES})`, (v, from) => parseIfaces(v, from), {
    env: ['INTERFACE', 'NETWORK_INTERFACE'],
    detect: {
      describe: 'the default-route interface',
      find: () => {
        const d = defaultRouteInterface();
        if (!d) throw usageError(`-i/--iface: no default-route interface found; name one (available: ${listInterfaces().map((i) => i.name).join(', ')})`);
        return d;
      },
    },
  }),
  ingressHook: value('--ingress-hook <hook>', 'where ingress is counted: xdp, tc, or auto (xdp; tc on veth)', (v, from) => parseChoice(v, from, ['auto', 'xdp', 'tc'] as const), {
    default: 'auto',
  }),
  xdpMode: value('--xdp-mode <mode>', 'XDP attach mode: auto tries native then generic; native or generic only', (v, from) => parseChoice(v, from, ['auto', 'native', 'generic'] as const), {
    default: 'auto',
  }),
  intervalMs: interval(),
  top: value('--top <n>', 'flows shown per interval (busiest first; the summary ranks by total bytes), 0 for all', (v, from) => parseInteger(v, from, 0, 1_000_000), { default: '20' }),
  changed: flag('--changed', 'show only the flows that carried packets since the last report (for long, mostly idle runs)'),
  output: recordOutput(),
  watch: optional('--watch-ip <ips>', 'IPs or CIDRs to count in/out, comma-separated', (v, from) => parseNetList(v, from), { env: ['TARGET_IP'] }),
  filter: optional('--filter <expr>', "tcpdump's filter language (pcap-filter(7)), compiled by libpcap and run in the kernel on every hook: it selects what -p logs and -w writes; the expression may also follow the options, as tcpdump takes it", (v, from) => {
    if (!v.trim()) throw usageError(`${from}: expected a filter expression such as 'tcp port 443', got an empty one`);
    return v.trim();
  }),
  write: optional('-w, --write <file>', 'write the packets that match as pcapng (Wireshark, tshark, tcpdump -r); - for stdout', parseWriteFile),
  snaplen: value('--snaplen <n>', 'bytes kept of each written packet, 14..9216 (the default keeps whole frames, jumbo and VLAN-tagged included)', (v, from) => parseInteger(v, from, 14, 9216), { default: '9216' }),
  bufferKiB: value('-B, --buffer-size <KiB>', "-w's capture buffer (the kernel ring the packets wait in until written) in KiB, as tcpdump's -B: 64..1048576, rounded up to a power of two; allocated whole at start, and counted twice in RSS (its pages are mapped twice)", (v, from) => parseInteger(v, from, 64, 1_048_576), {
    default: '8192',
  }),
  packets: flag('-p, --packets', 'log every matching packet (filters and rate limit run in the kernel)'),
  protocols: value('--protocol <p>', `filter by protocol: ${PROTOCOLS.join('|')} (comma-separated); like the four below, shorthand for a filter expression (AND-ed with --filter) that also looks inside VLAN tags`, (v, from) => parseProtocols(v, from), { default: 'all' }),
  srcNet: optional('--src-ip <ip>', 'filter by source IP or CIDR (shorthand, as --protocol)', (v, from) => parseSingleNet(v, from)),
  dstNet: optional('--dst-ip <ip>', 'filter by destination IP or CIDR (shorthand, as --protocol)', (v, from) => parseSingleNet(v, from)),
  srcPort: optional('--src-port <port>', 'filter by source port (shorthand, as --protocol)', (v, from) => parsePort(v, from)),
  dstPort: optional('--dst-port <port>', 'filter by destination port (shorthand, as --protocol)', (v, from) => parsePort(v, from)),
  rateLimit: value('--rate-limit <n>', 'packet-log events per second, K/M suffix allowed, 0 = unlimited; the rest are counted as suppressed', (v, from) => parseRate(v, from, 100_000_000), {
    default: '10000',
  }),
  maxFlows: value('--max-flows <n>', 'flow table size (LRU; evictions are counted); bounds depend on CPUs and memory', (v, from) => parseMaxFlows(v, from), { default: '65536' }),
  ...exportOptions(':9436'),
  metricsMaxFlows: value('--metrics-max-flows <n>', 'flow series exported per interval, the busiest in bytes over the interval; the others are counted in xtrace_flows_not_exported_total', (v, from) => parseInteger(v, from, 0, 1_000_000), {
    default: '1000',
  }),
  containers: value('--containers <when>', 'label flows and watched IPs with the Docker container owning the address (auto: when the Docker socket exists)', (v, from) => parseChoice(v, from, ['auto', 'on', 'off'] as const), {
    default: 'auto',
  }),
  readyFile: readyFile(),
  verbose: verbose(),
};
