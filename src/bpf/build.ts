/**
 * Compiles bpf/*.bpf.c with clang, as `make build-bpf` does (the container has no make target to lean
 * on). The flags live in one file, bpf/cflags, which the Makefile reads too.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { featureError, usageError } from '../errors.js';

/** The repository's (or the image's /app) bpf/ directory. */
export const BPF_SRC_DIR = fileURLToPath(new URL('../../../bpf', import.meta.url));
const TARGET_ARCH: Record<string, string> = { x64: 'x86', arm64: 'arm64', ppc64: 'powerpc', s390x: 's390', riscv64: 'riscv' };
const TRIPLET: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/** clang's arguments for one BPF object: bpf/cflags, the target arch, bpf/include and Debian's multiarch headers (asm/types.h). */
export function clangArgs(src: string, out: string, includeDir = join(BPF_SRC_DIR, 'include')): string[] {
  const base = readFileSync(join(BPF_SRC_DIR, 'cflags'), 'utf8').trim().split(/\s+/);
  const triplet = TRIPLET[process.arch] ?? `${process.arch}-linux-gnu`;
  return [...base, `-D__TARGET_ARCH_${TARGET_ARCH[process.arch] ?? process.arch}`, `-I${includeDir}`, `-I/usr/include/${triplet}`, '-c', src, '-o', out];
}

export async function buildBpf(srcDir: string, outDir: string): Promise<string[]> {
  let sources: string[];
  try {
    sources = readdirSync(srcDir).filter((f) => f.endsWith('.bpf.c'));
  } catch {
    throw usageError(`--src: no directory ${srcDir}`);
  }
  if (sources.length === 0) throw usageError(`--src: no *.bpf.c in ${srcDir}`);
  const probe = await execa('clang', ['--version'], { reject: false });
  if (probe.failed && (probe as { code?: string }).code === 'ENOENT') throw featureError('clang not found: install clang and libbpf-dev');
  mkdirSync(outDir, { recursive: true });
  const inc = existsSync(join(srcDir, 'include')) ? join(srcDir, 'include') : undefined;
  const out: string[] = [];
  for (const s of sources) {
    const o = join(outDir, s.replace(/\.c$/, '.o'));
    await execa('clang', clangArgs(join(srcDir, s), o, inc), { stdio: 'inherit' });
    out.push(o);
  }
  return out;
}
