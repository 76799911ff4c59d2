import winston from 'winston';

/** Logs go to stderr (records go to stdout); JSON lines with XTRACE_LOG_FORMAT=json (the container sets it). */
const json = process.env.XTRACE_LOG_FORMAT === 'json';

export const log = winston.createLogger({
  level: process.env.XTRACE_LOG_LEVEL ?? 'info',
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
