import winston from 'winston';

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

export const log = winston.createLogger({
  // a bad level is reported by the CLI (logEnvProblem); until then, log at info rather than drop every line
  level: (LOG_LEVELS as readonly string[]).includes(envLevel) ? envLevel : 'info',
  format: json
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp(),
        winston.format.printf((i) => `${String(i.timestamp)} ${i.level}: ${String(i.message)}`),
      ),
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'verbose', 'debug', 'silly'] })],
});

export function setVerbose(on: boolean): void {
  if (on) log.level = 'debug';
}

/** The one line a failed run ends with: `xtrace: ...`, or a JSON log line in containers. */
export function fatal(message: string): void {
  process.stderr.write(json ? JSON.stringify({ level: 'error', message: `xtrace: ${message}`, timestamp: new Date().toISOString() }) + '\n' : `xtrace: ${message}\n`);
}
