/** bpf/flow.bpf.o opened and configured for a run (not loaded): settings, map sizes, the filter spliced in. */
import { BpfObject } from '../../bpf/object.js';
import { type ClassicInsn, bytesRead, splice, translate } from '../../capture/cbpf.js';
import { defaultObject } from '../common.js';
import { encodeConfig } from './codec.js';
import { XDP_OBJECT } from './options.js';

/** -B in KiB as the ring's bytes: a power of two (a BPF ring buffer's size is one), at least a page. */
export const captureRingBytes = (kib: number): number => 2 ** Math.ceil(Math.log2(Math.max(kib, 4) * 1024));
const ETH_HLEN = 14;
/** The programs a --filter expression is spliced into: every hook xtrace attaches. */
export const FLOW_PROGRAMS = ['xt_xdp_ingress', 'xt_tc_ingress', 'xt_tc_egress'] as const;

export interface FlowSettings {
  watchCount: number;
  /** packet-log events per second, 0 = unlimited */
  rateLimit: number;
  /** -p */
  log: boolean;
  ifindexes: number[];
  /** the --filter expression compiled by libpcap, or null */
  classic: readonly ClassicInsn[] | null;
  /** -w's snaplen, or null without -w */
  snaplen: number | null;
  /** -w's ring (-B), bytes, a power of two */
  ringBytes: number;
  maxFlows: number;
}

export function openFlowObject(s: FlowSettings): BpfObject {
  const obj = BpfObject.open(defaultObject(XDP_OBJECT));
  try {
    const capture = s.snaplen !== null;
    obj.setSectionData(
      '.rodata',
      encodeConfig({
        watchCount: s.watchCount,
        rateLimit: s.rateLimit,
        log: s.log,
        ifindexes: s.ifindexes,
        filter: s.classic !== null,
        capture,
        snaplen: s.snaplen ?? 0,
        // a packet is copied only as far as the filter reads (tcp port 443: 78 bytes) and -w keeps
        copyBytes: Math.max(ETH_HLEN, s.classic ? bytesRead(s.classic) : 0, s.snaplen ?? 0),
        // a quarter of the ring: the reader is woken once per batch (and reads every 50 ms besides)
        capWake: s.ringBytes / 4,
      }),
    );
    obj.setMaxEntries('flows', s.maxFlows);
    obj.setMaxEntries('packets', capture ? s.ringBytes : 4096);
    if (s.classic) {
      const code = translate(s.classic);
      for (const p of FLOW_PROGRAMS) obj.setInstructions(p, splice(obj.instructions(p), code));
    }
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}
