/** Exit codes (DESIGN.md): 0 ok, 1 unexpected, 2 bad usage/input, 3 missing privilege, 4 kernel/hardware feature missing. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, PRIVILEGE: 3, FEATURE: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error meant for the user: one line, with the exit code it maps to. */
export class XtError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.FAILURE,
  ) {
    super(message);
    this.name = 'XtError';
  }
}

export const usageError = (msg: string): XtError => new XtError(msg, EXIT.USAGE);
export const featureError = (msg: string): XtError => new XtError(msg, EXIT.FEATURE);
export const privilegeError = (msg: string): XtError => new XtError(msg, EXIT.PRIVILEGE);
