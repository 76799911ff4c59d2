/** Compiles bpf/*.bpf.c with clang, as `make build-bpf` does (the container has no make target to lean on). */
import { mkdirSync, readdirSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { featureError, usageError } from '../errors.js';

const TARGET_ARCH: Record<string, string> = { x64: 'x86', arm64: 'arm64', ppc64: 'powerpc', s390x: 's390', riscv64: 'riscv' };

export async function buildBpf(srcDir: string, outDir: string): Promise<string[]> {
  let sources: string[];
  try {
    sources = readdirSync(srcDir).filter((f) => f.endsWith('.bpf.c'));
  } catch {
    throw usageError(`--src: no directory ${srcDir}`);
  }
  if (sources.length === 0) throw usageError(`--src: no *.bpf.c in ${srcDir}`);
  const multiarch = await execa('clang', ['-print-multiarch'], { reject: false });
  if (multiarch.failed && (multiarch as { code?: string }).code === 'ENOENT') throw featureError('clang not found: install clang and libbpf-dev');
  mkdirSync(outDir, { recursive: true });
  const out: string[] = [];
  for (const s of sources) {
    const o = join(outDir, s.replace(/\.c$/, '.o'));
    const args = ['-O2', '-g', '-Wall', '-target', 'bpf', `-D__TARGET_ARCH_${TARGET_ARCH[arch()] ?? arch()}`, `-I${join(srcDir, 'include')}`];
    // Debian's multiarch include dir (asm/types.h); clang 19 no longer prints it
    const triplet = multiarch.stdout?.trim() || `${process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch}-linux-gnu`;
    args.push(`-I/usr/include/${triplet}`);
    await execa('clang', [...args, '-c', join(srcDir, s), '-o', o], { stdio: 'inherit' });
    out.push(o);
  }
  return out;
}
