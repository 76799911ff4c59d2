/** What the xdp mode needs of the machine (`xtrace probe`). */
import { probeBtf, probeHelper, probeLinkType, probeMapType, probeProgType } from '../../bpf/probe.js';
import type { ModeNeeds } from '../needs.js';

export const XDP_NEEDS = (): ModeNeeds => ({
  bpf: true,
  needs: [
    { feature: 'prog xdp', required: false, use: 'ingress on physical NICs (TC ingress serves otherwise: --ingress-hook tc)', probe: () => probeProgType('xdp') },
    { feature: 'link xdp', required: false, use: 'XDP as a link the kernel detaches when xtrace dies', probe: () => probeLinkType('xdp') },
    { feature: 'prog sched_cls', required: true, use: 'TC egress (and ingress on veth)', probe: () => probeProgType('sched_cls') },
    { feature: 'link tcx', required: false, use: 'TC as a link (a classic clsact filter serves otherwise)', probe: () => probeLinkType('tcx') },
    { feature: 'map lru_percpu_hash', required: true, use: 'the flow table', probe: () => probeMapType('lru_percpu_hash') },
    { feature: 'map percpu_array', required: true, use: 'counters', probe: () => probeMapType('percpu_array') },
    { feature: 'map lpm_trie', required: true, use: '--watch-ip', probe: () => probeMapType('lpm_trie') },
    { feature: 'map ringbuf', required: true, use: 'the packet log (-p) and the capture ring (-w)', probe: () => probeMapType('ringbuf') },
    {
      feature: 'helper ringbuf_output',
      required: true,
      // not bpf_ringbuf_reserve_dynptr: the filter reads the copy first, so a reservation would copy the same bytes again
      use: '-w: the pcapng block the kernel writes, copied into the ring at its own length (the one path, every kernel)',
      probe: () => probeHelper('sched_cls', 'ringbuf_output'),
    },
    { feature: 'btf', required: false, use: 'link probes and kernel type names', probe: probeBtf },
  ],
});
