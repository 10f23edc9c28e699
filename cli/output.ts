// Output conventions shared by every command: human lines on stdout, `--json` for machines,
// one clear line on stderr and a non-zero exit on failure.
import type { Command } from 'commander';

export interface GlobalOptions {
  databaseUrl?: string;
  json?: boolean;
}

/** The options of the root program, merged with the command's own. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Progress for humans goes to stderr, so stdout stays clean for --json and pipes. */
export function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Exit status 1 with a message, for failures that are not exceptions (a rejected token, a failed sync). */
export class CommandFailure extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Wraps a command's action: any error becomes one line on stderr and a non-zero exit. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`authdb: ${message.split('\n')[0]}\n`);
      process.exitCode = error instanceof CommandFailure ? error.exitCode : 1;
    }
  };
}
