/**
 * The running kernel's BTF (/sys/kernel/btf/vmlinux, readable without privilege): whether it has a
 * function, a struct, a tracepoint; the names of an enum's values. Loaded once, on first use.
 */
import { lib, view } from './native.js';

export const BTF_KIND = { struct: 4, enum: 6, typedef: 8, func: 12, enum64: 19 } as const;

let vmlinux: bigint | null | undefined;

function handle(): bigint | null {
  if (vmlinux === undefined) {
    const p = lib.btfLoadVmlinux() as bigint | null;
    vmlinux = p ? p : null;
  }
  return vmlinux;
}

/** Whether the kernel's BTF has a type of that name and kind; null when there is no kernel BTF. */
export function kernelBtfHas(name: string, kind: keyof typeof BTF_KIND): boolean | null {
  const h = handle();
  if (h === null) return null;
  return (lib.btfFindByNameKind(h, name, BTF_KIND[kind]) as number) > 0;
}

/** The values of a kernel enum, value -> name (e.g. skb_drop_reason); empty when the kernel has no such enum. */
export function kernelEnum(name: string): Map<number, string> {
  const out = new Map<number, string>();
  const h = handle();
  if (h === null) return out;
  let id = lib.btfFindByNameKind(h, name, BTF_KIND.enum) as number;
  let wide = false;
  if (id <= 0) {
    id = lib.btfFindByNameKind(h, name, BTF_KIND.enum64) as number;
    wide = true;
  }
  if (id <= 0) return out;
  const t = lib.btfTypeById(h, id) as bigint | null;
  if (!t) return out;
  const vlen = new DataView(view(t, 12)).getUint32(4, true) & 0xffff;
  const step = wide ? 12 : 8;
  const members = new DataView(view(t + 12n, vlen * step));
  for (let i = 0; i < vlen; i++) {
    const nameOff = members.getUint32(i * step, true);
    const val = wide ? members.getUint32(i * step + 4, true) : members.getInt32(i * step + 4, true);
    out.set(val, String(lib.btfNameByOffset(h, nameOff)));
  }
  return out;
}
