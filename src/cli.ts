#!/usr/bin/env node
/** xtrace: builds one commander command per registry entry; flag, then environment variable, then detected default. */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, XtError, usageError } from './errors.js';
import { fatal, logEnvProblem, setVerbose } from './log.js';
import { REGISTRY, applianceModes, entryOf } from './modes/registry.js';
import { type AnySpec, attributeOf, flagName, helpOf, resolve } from './options/spec.js';
import { version } from './version.js';


function addOption(cmd: Command, s: AnySpec): void {
  const o = new Option(s.flags, helpOf(s));
  if (s.kind === 'value' && s.repeatable) o.argParser((v: string, prev: string | undefined) => (prev === undefined ? v : `${prev},${v}`));
  cmd.addOption(o);
  if (attributeOf(s) === 'verbose') cmd.on('option:verbose', () => setVerbose(true));
}

/** The variables xtrace reads besides each option's own (shown in its help line). */
const environment = (): string => `
Environment (a flag wins over its variable):
  MODE                  the command to run when none is given (${applianceModes().join(' | ')}; the appliance sets it)
  INTERFACE, TARGET_IP, INTERVAL, DEVICE
                        -i, --watch-ip, --interval, -d of the modes that have them
  XTRACE_LOG_LEVEL      error | warn | info | debug (default: info; -v is debug)
  XTRACE_LOG_FORMAT     text | json (logs on stderr as JSON lines; the container sets json)
  XTRACE_BPF_DIR        directory of the built kernel programs (default: build/bpf beside the app)
  XTRACE_SYSFS_ROOT, XTRACE_PROC_ROOT
                        stand-ins for /sys and /proc (rdma, nccl; container labels)
  DOCKER_SOCKET         the Docker engine's socket (default: /var/run/docker.sock)
  XTRACE_DISABLE_HOOKS  hook candidates to refuse, comma-separated (e.g. tcx: test the classic TC fallback)

Exit codes: 0 ok, 1 unexpected failure, 2 bad usage or input, 3 missing privilege, 4 kernel or hardware feature missing.
`;

function program(): Command {
  const p = new Command('xtrace')
    .description('eBPF network traffic monitor for Linux: per-flow and per-IP counters, packet log, RDMA counters')
    .version(version())
    .option('-l, --list', 'list network interfaces (same as `xtrace interfaces`)')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // commander's own errors ("error: unknown option ...") become xtrace's one-line form
      outputError: (s, write) => write(`xtrace: ${s.replace(/^error: /, '').trim()} (xtrace --help lists the commands and options)\n`),
    });
  p.addHelpText('after', environment());
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
    // an unknown option of a subcommand points at the subcommand's own help
    cmd.configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`xtrace: ${s.replace(/^error: /, '').trim()} (xtrace ${e.path.join(' ')} --help lists its options)\n`),
    });
    for (const s of Object.values(e.options)) addOption(cmd, s);
    if (e.positional) cmd.argument(e.positional.name, e.positional.help);
    cmd.action(async (...args: unknown[]) => {
      const given = { ...(args.at(-2) as Record<string, unknown>) };
      const words = e.positional ? (args[0] as string[]) : [];
      if (e.positional && words.length) {
        const spec = e.options[e.positional.into]!;
        const attr = attributeOf(spec);
        if (given[attr] !== undefined) throw usageError(`${flagName(spec)}: given twice, as the flag and as the words after the options ('${words.join(' ')}'); use one`);
        given[attr] = words.join(' ');
      }
      await e.run(resolve(e.options, given));
    });
  }
  p.action(async (f: { list?: boolean }) => {
    if (f.list) return entryOf(['interfaces']).run({ output: 'table' }); // -l: the interfaces command
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
    const bad = logEnvProblem();
    if (bad) throw usageError(bad);
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

/** Resolves once what was written to `s` before has been handed to the OS (pipes are asynchronous). */
const flushed = (s: NodeJS.WriteStream): Promise<void> =>
  new Promise((resolve) => {
    if (s.destroyed || !s.writable) return resolve();
    s.write('', () => resolve());
  });

const code = await main();
// Exit while the modes' signal handlers are still installed: once Node's own exit began closing them, a
// second SIGTERM (a wrapper's, a user's) would still kill the process after its summary, with a signal
// status instead of 0.
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
