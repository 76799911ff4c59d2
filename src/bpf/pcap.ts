/**
 * libpcap's filter compiler (no capture handle: pcap_open_dead): a tcpdump expression to classic BPF
 * instructions, copied out of libpcap's memory before it is freed.
 */
import { type Ptr, pcap, view } from './native.js';

export interface ClassicInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** DLT_EN10MB: Ethernet frames, as every hook xtrace uses sees them */
export const DLT_EN10MB = 1;
const PCAP_NETMASK_UNKNOWN = 0xffffffff;

/** The program, or libpcap's message when it refuses the expression. */
export function compileClassic(expr: string, linktype = DLT_EN10MB, snaplen = 262144): { insns: ClassicInsn[] } | { error: string } {
  const handle = pcap.openDead(linktype, snaplen);
  if (!handle) throw new Error('pcap_open_dead failed');
  // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; }
  const prog = Buffer.alloc(16);
  try {
    if (pcap.compile(handle, prog, expr, 1, PCAP_NETMASK_UNKNOWN) !== 0) return { error: String(pcap.geterr(handle)) };
    const n = prog.readUInt32LE(0);
    // a view of libpcap's memory: read out before pcap_freecode releases it
    const raw = Buffer.from(view(prog.readBigUInt64LE(8) as Ptr, n * 8));
    const insns: ClassicInsn[] = [];
    for (let i = 0; i < n; i++) insns.push({ code: raw.readUInt16LE(i * 8), jt: raw[i * 8 + 2]!, jf: raw[i * 8 + 3]!, k: raw.readUInt32LE(i * 8 + 4) });
    pcap.freecode(prog);
    return { insns };
  } finally {
    pcap.close(handle);
  }
}
