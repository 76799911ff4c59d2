/** Logs go to stderr (records go to stdout); JSON lines with XTRACE_LOG_FORMAT=json (the container sets it). */
const json = process.env.XTRACE_LOG_FORMAT === 'json';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export const LOG_FORMATS = ['text', 'json'] as const;
const envLevel = process.env.XTRACE_LOG_LEVEL || 'info';

/** What is wrong with XTRACE_LOG_LEVEL / XTRACE_LOG_FORMAT, in the one-line form; null when nothing is. */
export function logEnvProblem(): string | null {
  if (!(LOG_LEVELS as readonly string[]).includes(envLevel)) return `XTRACE_LOG_LEVEL: expected ${LOG_LEVELS.join('|')}, got '${envLevel}'`;
  const f = process.env.XTRACE_LOG_FORMAT;
  if (f && !(LOG_FORMATS as readonly string[]).includes(f)) return `XTRACE_LOG_FORMAT: expected ${LOG_FORMATS.join('|')}, got '${f}'`;
  return null;
}

type Level = (typeof LOG_LEVELS)[number];
const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/**
 * The logger: one line a message on stderr, `2026-12-04T17:00:00.000Z info: message`, or with
 * XTRACE_LOG_FORMAT=json `{"level":"info","message":"...","timestamp":"..."}` (the fields and order
 * winston wrote before; a hand-written one costs no 12 MB of resident memory).
 */
class Logger {
  // a bad level is reported by the CLI (logEnvProblem); until then, log at info rather than drop every line
  level: Level = (LOG_LEVELS as readonly string[]).includes(envLevel) ? (envLevel as Level) : 'info';

  isLevelEnabled(level: Level): boolean {
    return RANK[level] <= RANK[this.level];
  }

  private write(level: Level, message: string): void {
    if (RANK[level] > RANK[this.level]) return;
    const timestamp = new Date().toISOString();
    process.stderr.write(json ? `${JSON.stringify({ level, message, timestamp })}\n` : `${timestamp} ${level}: ${message}\n`);
  }

  error(message: string): void {
    this.write('error', message);
  }
  warn(message: string): void {
    this.write('warn', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  debug(message: string): void {
    this.write('debug', message);
  }
}

export const log = new Logger();

export function setVerbose(on: boolean): void {
  if (on) log.level = 'debug';
}

/** The one line a failed run ends with: `xtrace: ...`, or a JSON log line in containers. */
export function fatal(message: string): void {
  process.stderr.write(json ? JSON.stringify({ level: 'error', message: `xtrace: ${message}`, timestamp: new Date().toISOString() }) + '\n' : `xtrace: ${message}\n`);
}
