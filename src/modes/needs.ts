/**
 * What a mode needs of the machine, as data each mode declares beside its code (src/modes/<mode>/needs.ts)
 * and the registry loads for `xtrace probe`: a feature, whether the mode can do without it, what it is
 * for, and the probe that says whether this machine has it (never a version number).
 */
import type { Attached } from '../bpf/hooks.js';
import type { ProbeResult } from '../bpf/probe.js';

export interface Need {
  feature: string;
  /** false: a fallback serves without it */
  required: boolean;
  /** what it is for, and what serves instead when it is missing */
  use: string;
  probe: () => ProbeResult | Promise<ProbeResult>;
}

export interface ModeNeeds {
  /** it loads BPF programs (probing it needs root) */
  bpf: boolean;
  needs: Need[];
}

/**
 * Needs that are a mode's hook slots: the hook chooser itself runs once (load, attach, detach at once),
 * so the choice shown is the one a run makes, with the kernel's reason for each refusal. `what`: the
 * row's word ("stage", "hook"); `sees`: the namespaces a chosen hook of that kind sees, where it matters.
 */
export function slotNeeds(
  attach: () => Promise<Attached>,
  what: string,
  slots: ReadonlyArray<{ name: string; required: boolean; use: string }>,
  sees?: (kind: string | null) => string,
): Need[] {
  let chosen: Promise<Attached['choices'] | string> | null = null;
  const choose = (): Promise<Attached['choices'] | string> =>
    (chosen ??= attach().then(
      (a) => {
        for (const l of a.links) l.destroy();
        a.obj.close();
        return a.choices;
      },
      (e: Error) => e.message,
    ));
  return slots.map((s) => ({
    feature: `${what} ${s.name}`,
    required: s.required,
    use: s.use,
    probe: async (): Promise<ProbeResult> => {
      const mine = await choose();
      if (typeof mine === 'string') return { name: s.name, status: 'error', detail: mine };
      const c = mine.find((x) => x.slot === s.name);
      if (!c) return { name: s.name, status: 'error', detail: 'not probed' };
      const refused = c.tried.filter((t) => t.outcome === 'refused').map((t) => `${t.hook.split(':')[0]}: ${t.reason}`);
      const scope = sees ? ` (sees ${sees(c.kind)})` : '';
      return c.serves
        ? { name: s.name, status: 'supported', detail: `${c.serves}${scope}${refused.length ? ` (refused: ${refused.join('; ')})` : ''}` }
        : { name: s.name, status: 'missing', detail: `unavailable: ${refused.join('; ')}` };
    },
  }));
}
