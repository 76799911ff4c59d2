#!/usr/bin/env node
/** xtrace: builds one commander command per registry entry; flag, then environment variable, then detected default. */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, XtError, usageError } from './errors.js';
import { fatal, setVerbose } from './log.js';
import { REGISTRY, applianceModes } from './modes/registry.js';
import { type AnySpec, attributeOf, helpOf, resolve } from './options/spec.js';

const VERSION = '0.1.0';

function addOption(cmd: Command, s: AnySpec): void {
  const o = new Option(s.flags, helpOf(s));
  cmd.addOption(o);
  if (attributeOf(s) === 'verbose') cmd.on('option:verbose', () => setVerbose(true));
}

function program(): Command {
  const p = new Command('xtrace')
    .description('eBPF network traffic monitor for Linux: per-flow and per-IP counters, packet log, RDMA counters')
    .version(VERSION)
    .option('-l, --list', 'list network interfaces (same as `xtrace interfaces`)')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // commander's own errors ("error: unknown option ...") become xtrace's one-line form
      outputError: (s, write) => write(`xtrace: ${s.replace(/^error: /, '').trim()} (xtrace --help lists the commands and options)\n`),
    });
  const parents = new Map<string, Command>();
  for (const e of REGISTRY) {
    let parent = p;
    for (const name of e.path.slice(0, -1)) {
      let sub = parents.get(name);
      if (!sub) {
        sub = p.command(name).description(`${name} commands`);
        parents.set(name, sub);
      }
      parent = sub;
    }
    const cmd = parent.command(e.path.at(-1)!).description(e.summary).allowExcessArguments(false);
    for (const s of Object.values(e.options)) addOption(cmd, s);
    cmd.action(async (given: Record<string, unknown>) => {
      await e.run(resolve(e.options, given));
    });
  }
  p.action(async (f: { list?: boolean }) => {
    if (f.list) return (await import('./modes/interfaces/index.js')).runInterfaces('table');
    p.outputHelp();
  });
  return p;
}

/** MODE picks the subcommand when none is given (the container's entrypoint relies on it). */
function withMode(p: Command, args: string[]): string[] {
  if (args[0] === 'help') return [...args.slice(1), '--help']; // `xtrace help xdp`
  const first = args[0] !== undefined && !args[0].startsWith('-') ? args[0] : undefined; // a command comes first
  const known = (a: string): boolean => a === 'help' || p.commands.some((c) => c.name() === a);
  if (first !== undefined && !known(first))
    throw usageError(`unknown command '${first}' (commands: ${p.commands.map((c) => c.name()).join(', ')})`);
  const mode = process.env.MODE;
  if (!mode || first !== undefined || ['-h', '--help', '-V', '--version', '-l', '--list'].includes(args[0] ?? '')) return args;
  if (!applianceModes().includes(mode)) throw usageError(`MODE: expected ${applianceModes().join('|')}, got '${mode}'`);
  return [mode, ...args];
}

async function main(): Promise<number> {
  try {
    const p = program();
    await p.parseAsync(withMode(p, process.argv.slice(2)), { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK; // a command may set it (docker status)
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE; // already printed in one line by outputError
    }
    if (e instanceof XtError) {
      fatal(e.message);
      return e.exitCode;
    }
    fatal(`unexpected failure: ${(e as Error).stack ?? String(e)}`);
    return EXIT.FAILURE;
  }
}

process.exitCode = await main();
