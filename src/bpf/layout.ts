/**
 * A struct that crosses the kernel/user boundary, as TypeScript reads it: its name in the object's BTF,
 * its size, and its fields' offsets. Each mode's layout.ts declares its own; test/unit/layout.test.ts
 * checks every one against the BTF of the built object (bpf/include holds the truth).
 */
export interface StructLayout {
  readonly name: string;
  readonly size: number;
  readonly fields: Readonly<Record<string, number>>;
}

/** Enum name -> its values, as the layout test compares them with BTF. */
export type EnumLayouts = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** Everything of one object's boundary: its structs, its enums, and its const-volatile config (a struct at offset 0 of .rodata). */
export interface ObjectLayout {
  readonly structs: readonly StructLayout[];
  readonly enums: EnumLayouts;
  readonly config: StructLayout;
  /** the config variable's name in the object */
  readonly configVar: string;
}
