/**
 * The xdp mode's hooks as data: on each interface, ingress at XDP (native, then generic) or at TC, and
 * egress at TC (a tcx link, then a classic clsact filter). Every slot is required: an interface that
 * cannot be hooked is one line and an exit, never a silent gap. src/bpf/hooks.ts attaches them.
 */
import type { HookCandidate, HookSlot } from '../../bpf/hooks.js';
import type { XdpMode } from '../../bpf/link.js';
import type { Iface } from '../../options/index.js';

const tc = (prog: string, dir: 'ingress' | 'egress', i: Iface): HookCandidate[] =>
  (['tcx', 'tc'] as const).map((kind) => ({ kind, parts: [{ prog, target: `${dir}@${i.name}`, ifindex: i.ifindex }] }));

/** `hooks`: per interface, where ingress is counted (the mode's --ingress-hook, veth seen as TC). */
export function xdpSlots(ifaces: ReadonlyArray<{ iface: Iface; ingress: 'xdp' | 'tc' }>, xdpMode: XdpMode): HookSlot[] {
  return ifaces.flatMap(({ iface: i, ingress }): HookSlot[] => [
    ingress === 'xdp'
      ? {
          name: `${i.name}/ingress`,
          candidates: (['native', 'generic'] as const)
            .filter((m) => xdpMode === 'auto' || xdpMode === m)
            .map((m): HookCandidate => ({ kind: `xdp/${m}`, parts: [{ prog: 'xt_xdp_ingress', target: i.name, ifindex: i.ifindex }] })),
          required: { what: `XDP (--xdp-mode ${xdpMode})`, where: i.name },
        }
      : { name: `${i.name}/ingress`, candidates: tc('xt_tc_ingress', 'ingress', i), required: { what: 'the TC ingress program', where: i.name } },
    { name: `${i.name}/egress`, candidates: tc('xt_tc_egress', 'egress', i), required: { what: 'the TC egress program', where: i.name } },
  ]);
}
