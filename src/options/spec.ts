/**
 * Options as data. A mode lists its options (flags, help, environment variables, default, parser);
 * cli.ts turns them into commander options and `resolve` applies flag > environment > default in one
 * place, naming where a bad value came from (the flag, or the variable) in the error.
 */
import { Option } from 'commander';
import { usageError } from '../errors.js';

export interface BoolSpec {
  kind: 'bool';
  /** commander's form: '-p, --packets' */
  flags: string;
  help: string;
}

export interface ValueSpec<T, D extends boolean> {
  kind: 'value';
  /** commander's form: '-i, --iface <names>' */
  flags: string;
  help: string;
  /** environment variables read, in order, when the flag is absent */
  env?: readonly string[];
  /** raw default, parsed like a given value; shown in --help */
  default?: string;
  /** a default found at run time (e.g. the default-route interface), with how --help describes it */
  detect?: { describe: string; find: () => string | undefined };
  parse: (raw: string, from: string) => T;
  /** the flag may be given several times: the values reach `parse` joined by commas */
  repeatable?: boolean;
  /** marks a spec that always yields a value (a default, or a detector that throws when it finds none) */
  readonly always: D;
}

export type AnySpec = BoolSpec | ValueSpec<unknown, boolean>;
export type Specs = Record<string, AnySpec>;

export type Resolved<S extends Specs> = {
  [K in keyof S]: S[K] extends BoolSpec ? boolean : S[K] extends ValueSpec<infer T, infer D> ? (D extends true ? T : T | undefined) : never;
};

export const flag = (flags: string, help: string): BoolSpec => ({ kind: 'bool', flags, help });

type ValueOpts = { env?: readonly string[]; repeatable?: boolean };

/** A value with a default (or a detected one): always present once resolved. */
export function value<T>(
  flags: string,
  help: string,
  parse: (raw: string, from: string) => T,
  o: ValueOpts & ({ default: string } | { detect: { describe: string; find: () => string | undefined } }),
): ValueSpec<T, true> {
  return { kind: 'value', flags, help, parse, always: true, ...o };
}

/** A value that may be absent. */
export function optional<T>(flags: string, help: string, parse: (raw: string, from: string) => T, o: ValueOpts = {}): ValueSpec<T, false> {
  return { kind: 'value', flags, help, parse, always: false, ...o };
}

/** The attribute commander stores a flag under ('--max-flows' -> 'maxFlows'). */
export const attributeOf = (s: AnySpec): string => new Option(s.flags).attributeName();

/** '-i, --iface <names>' -> '-i/--iface' */
export const flagName = (s: AnySpec): string => new Option(s.flags).flags.replace(/\s*<.*$/, '').replace(/,\s*/, '/');

/** The help line: text, then environment variables and the default. */
export function helpOf(s: AnySpec): string {
  if (s.kind === 'bool') return s.help;
  const extra: string[] = [];
  if (s.env?.length) extra.push(`env ${s.env.join(' or ')}`);
  if (s.default !== undefined && s.default !== '') extra.push(`default: ${s.default}`);
  if (s.detect) extra.push(`default: ${s.detect.describe}`);
  return extra.length ? `${s.help} (${extra.join('; ')})` : s.help;
}

const envValue = (name: string): string | undefined => {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
};

/** Flag, then environment, then default: each value parsed with the name of where it came from. */
export function resolve<S extends Specs>(specs: S, given: Record<string, unknown>): Resolved<S> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(specs)) {
    const raw = given[attributeOf(s)];
    if (s.kind === 'bool') {
      out[key] = raw === true;
      continue;
    }
    if (typeof raw === 'string') {
      out[key] = s.parse(raw, flagName(s));
      continue;
    }
    const fromEnv = s.env?.find((n) => envValue(n) !== undefined);
    if (fromEnv) out[key] = s.parse(envValue(fromEnv)!, fromEnv);
    else if (s.default !== undefined) out[key] = s.parse(s.default, flagName(s));
    else if (s.detect) {
      const d = s.detect.find();
      out[key] = d === undefined ? undefined : s.parse(d, `${flagName(s)} (${s.detect.describe})`);
    } else out[key] = undefined;
  }
  return out as Resolved<S>;
}

/**
 * How a command's options go together, as data: checked after resolve, before anything runs, each a
 * one-line usage error (exit 2). The checks run in this order.
 */
export interface Constraints<S extends Specs> {
  /** exactly one of these: `none` when none is given, `many` (after "A and B cannot be combined; ") when several are */
  oneOf?: { keys: ReadonlyArray<keyof S & string>; none: string; many: string };
  /** options that must have a value: the message after "FLAG: required: " */
  required?: ReadonlyArray<{ key: keyof S & string; message: string }>;
  /** an option (or one of its values, `when`) that only goes with another: the message after "FLAG: " */
  dependsOn?: ReadonlyArray<{ key: keyof S & string; on: keyof S & string; when?: (v: unknown) => boolean; message: string }>;
}

const isGiven = (v: unknown): boolean => v !== undefined && v !== false;

/** Throws the first constraint `o` breaks; `command` prefixes the whole-command messages ("limit: ..."). */
export function checkConstraints<S extends Specs>(command: string, specs: S, c: Constraints<S> | undefined, o: Resolved<S>): void {
  if (!c) return;
  const v = o as Record<string, unknown>;
  if (c.oneOf) {
    const given = c.oneOf.keys.filter((k) => isGiven(v[k])).map((k) => flagName(specs[k]!));
    if (given.length === 0) throw usageError(`${command}: ${c.oneOf.none}`);
    if (given.length > 1) throw usageError(`${command}: ${given.join(' and ')} cannot be combined; ${c.oneOf.many}`);
  }
  for (const r of c.required ?? []) if (v[r.key] === undefined) throw usageError(`${flagName(specs[r.key]!)}: required: ${r.message}`);
  for (const d of c.dependsOn ?? [])
    if (isGiven(v[d.key]) && (!d.when || d.when(v[d.key])) && !isGiven(v[d.on])) {
      const spec = specs[d.key]!;
      throw usageError(`${d.when && spec.kind === 'value' ? `${flagName(spec).split('/').pop()} ${String(v[d.key])}` : flagName(spec)}: ${d.message}`);
    }
}
