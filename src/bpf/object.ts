/** BPF object lifecycle over libbpf: open, configure (.rodata, map sizes), load, find maps and programs. */
import { existsSync } from 'node:fs';
import { EXIT, type ExitCode, XtError, featureError } from '../errors.js';
import { log } from '../log.js';
import { type Ptr, c, errno, lib, registerPrint, strerror, view } from './native.js';

const MIN_LIBBPF: [number, number] = [1, 0];

export function libbpfVersion(): string {
  return `${lib.major()}.${lib.minor()}`;
}

function checkLibbpf(): void {
  const major = Number(lib.major());
  const minor = Number(lib.minor());
  if (major < MIN_LIBBPF[0] || (major === MIN_LIBBPF[0] && minor < MIN_LIBBPF[1]))
    throw featureError(`libbpf ${major}.${minor} is too old: xtrace needs ${MIN_LIBBPF.join('.')} or newer`);
}

/* libbpf's messages: collected while an object loads (the verifier log is in them), and routed to
 * the logger one level down (warn -> debug), as xdp-tools does. */
let captured: string[] | null = null;
let printerInstalled = false;
const printBuf = Buffer.alloc(256 * 1024);

function installPrinter(): void {
  if (printerInstalled) return;
  printerInstalled = true;
  const cb = registerPrint((level: number, fmt: string, args: Ptr) => {
    const n = Number(c.vsnprintf(printBuf, printBuf.length, fmt, args));
    const msg = printBuf.toString('utf8', 0, Math.max(0, Math.min(n, printBuf.length - 1))).replace(/\n+$/, '');
    if (captured && level === 0) captured.push(msg);
    if (level === 0) log.debug(`libbpf: ${msg}`); // warnings; libbpf's info and debug lines are not kept
    return 0;
  });
  lib.setPrint(cb);
}

/** A load the kernel (or libbpf) refused; `prog` names the program when libbpf said which. */
export class LoadError extends XtError {
  constructor(
    message: string,
    exitCode: ExitCode,
    readonly prog: string | undefined,
    readonly reason: string,
    /** the verifier refused the program: loading it again, for any hook of its type, is refused the same way */
    readonly verifier = false,
  ) {
    super(message, exitCode);
  }
}

export class BpfMap {
  constructor(
    readonly name: string,
    readonly fd: number,
    readonly keySize: number,
    readonly valueSize: number,
    readonly maxEntries: number,
  ) {}
}

export class BpfObject {
  private obj: Ptr | null;
  private loaded = false;

  private constructor(
    obj: Ptr,
    readonly path: string,
  ) {
    this.obj = obj;
  }

  static open(path: string): BpfObject {
    checkLibbpf();
    installPrinter();
    if (!existsSync(path)) throw new XtError(`BPF object ${path} not found: run 'make build' first`, EXIT.FAILURE);
    const obj = lib.objOpenFile(path, null) as Ptr | null;
    if (!obj) throw new XtError(`cannot open BPF object ${path}: ${strerror(errno())}`);
    return new BpfObject(obj, path);
  }

  private handle(): Ptr {
    if (!this.obj) throw new Error('BPF object is closed');
    return this.obj;
  }

  private mapPtr(name: string): Ptr {
    const m = lib.objFindMap(this.handle(), name) as Ptr | null;
    if (!m) throw new XtError(`${this.path} has no map ${name}: it was not built from this xtrace's bpf/ sources (run make build)`, EXIT.FAILURE);
    return m;
  }

  /** Overwrite the start of a data section (`.rodata` holds the `const volatile` config). Before load only. */
  setSectionData(section: string, data: Buffer): void {
    if (this.loaded) throw new Error('config must be set before load');
    const m = this.mapPtr(section);
    const size = [0];
    const cur = lib.mapInitialValue(m, size) as Ptr | null;
    if (!cur) throw new Error(`${section} has no initial value`);
    const total = Number(size[0]);
    if (data.length > total) throw new Error(`${section} is ${total} bytes, config is ${data.length}`);
    const whole = Buffer.alloc(total);
    Buffer.from(view(cur, total)).copy(whole); // view() aliases native memory; copy it out
    data.copy(whole, 0);
    const rc = lib.mapSetInitialValue(m, whole, total) as number;
    if (rc < 0) throw new Error(`cannot set ${section}: ${strerror(rc)}`);
  }

  setMaxEntries(map: string, n: number): void {
    const rc = lib.mapSetMaxEntries(this.mapPtr(map), n) as number;
    if (rc < 0) throw new Error(`cannot size map ${map}: ${strerror(rc)}`);
  }

  /** The names of every program in the object. */
  programs(): string[] {
    const out: string[] = [];
    for (let p = lib.objNextProg(this.handle(), null) as Ptr | null; p; p = lib.objNextProg(this.handle(), p) as Ptr | null) out.push(String(lib.progName(p)));
    return out;
  }

  /** The libbpf program handle (for src/bpf/link.ts). */
  progHandle(prog: string): Ptr {
    const p = lib.objFindProg(this.handle(), prog) as Ptr | null;
    if (!p) throw new XtError(`${this.path} has no program ${prog}: it was not built from this xtrace's bpf/ sources (run make build)`, EXIT.FAILURE);
    return p;
  }

  /** The program's instructions before load (as the ELF has them, relocations still pending). */
  instructions(prog: string): Buffer {
    const p = this.progHandle(prog);
    const n = Number(lib.progInsnCnt(p));
    return Buffer.from(view(lib.progInsns(p) as Ptr, n * 8).slice(0));
  }

  /** Replaces the program's instructions before load (libbpf's relocations index the original ones: keep them in place). */
  setInstructions(prog: string, insns: Buffer): void {
    const rc = lib.progSetInsns(this.progHandle(prog), insns, insns.length / 8) as number;
    if (rc < 0) throw new XtError(`${prog}: cannot replace its instructions: ${strerror(rc)}`, EXIT.FAILURE);
  }

  setAutoload(prog: string, on: boolean): void {
    lib.progSetAutoload(this.progHandle(prog), on);
  }

  /** Program and expected attach type, for sections an older libbpf does not know (SEC("netfilter") before 1.2). */
  setProgType(prog: string, type: number, attachType: number): void {
    const p = this.progHandle(prog);
    lib.progSetType(p, type);
    lib.progSetExpectedAttachType(p, attachType);
  }

  load(): void {
    const msgs: string[] = [];
    captured = msgs;
    let rc: number;
    try {
      rc = lib.objLoad(this.handle()) as number;
    } finally {
      captured = null;
    }
    if (rc < 0) {
      const hint = log.isLevelEnabled('debug') ? '' : ' (run with --verbose for the verifier log)';
      // EACCES/EINVAL at load: the verifier refused a program; its log says why, in its last line.
      const verifier = msgs.find((m) => m.includes('BEGIN PROG LOAD LOG'));
      const reason = verifier
        ? verifier
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l && !l.startsWith('--') && !/^(processed \d+ insns|verification time|stack depth|libbpf:)/.test(l))
            .at(-1)
        : msgs.filter((m) => m.trim() && !m.startsWith('-- ')).at(-1)?.split('\n')[0];
      // EAGAIN: the verifier stops when a signal is pending (libbpf tries five times); a profiler's SIGPROF does it
      const interrupted = rc === -11;
      const what = interrupted ? 'the verifier was interrupted by signals (EAGAIN), not refusing it: run it again without a profiler or signals' : verifier ? 'the verifier refused it' : strerror(rc);
      // libbpf names the program that failed: "prog 'NAME': ..."
      const prog = msgs
        .map((m) => /prog '([A-Za-z0-9_]+)'/.exec(m)?.[1])
        .filter(Boolean)
        .at(-1);
      const why = interrupted ? what : `${what}${reason ? `: ${reason}` : ''}`;
      // What libbpf said of that program (the kernel's errno, or a missing BTF target), plus the verifier's last word.
      const said = prog
        ? msgs
            .map((m) => new RegExp(`prog '${prog}': (?!-- )(.*)`).exec(m)?.[1]?.trim())
            .find((m) => m && !/^failed to load: -?\d+$/.test(m))
        : undefined;
      const progWhy = said ? `${said}${verifier && reason ? `: ${reason}` : ''}` : why;
      throw new LoadError(`cannot load ${this.path}: ${why}${interrupted ? '' : hint}`, rc === -1 ? EXIT.PRIVILEGE : EXIT.FEATURE, interrupted ? undefined : prog, progWhy, Boolean(verifier) && !interrupted);
    }
    this.loaded = true;
  }

  map(name: string): BpfMap {
    const m = this.mapPtr(name);
    return new BpfMap(name, lib.mapFd(m) as number, lib.mapKeySize(m) as number, lib.mapValueSize(m) as number, lib.mapMaxEntries(m) as number);
  }

  progFd(name: string): number {
    const p = lib.objFindProg(this.handle(), name) as Ptr | null;
    if (!p) throw new Error(`program ${name} not found in ${this.path}`);
    const fd = lib.progFd(p) as number;
    if (fd < 0) throw new Error(`program ${name} is not loaded`);
    return fd;
  }

  close(): void {
    if (this.obj) lib.objClose(this.obj);
    this.obj = null;
  }
}
