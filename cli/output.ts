// Output conventions shared by every command: human lines on stdout, `--json` for machines,
// and on failure one line on stderr (`--verbose` adds the stack, SQLSTATE and DETAIL), with
// `{"error":{"code","message","hint"}}` on stdout under `--json`. Exit 2 for usage errors, else 1.
// The library's errors (AuthdbError, src/errors.ts) keep their hint; their codes map onto ERROR_CODES.
import { CommanderError, type Command } from 'commander';
import { ConnectError, NoDatabaseError } from '../src/connection.js';
import { AuthdbError, rejectionOf } from '../src/errors.js';
import { InstallationError } from '../src/installation.js';
import { SchemaNameError } from '../src/schema.js';
import { asFlags } from './options.js';

export interface GlobalOptions {
  databaseUrl?: string;
  json?: boolean;
  verbose?: boolean;
  connectTimeout?: number;
  /** The schema authdb is installed in (default: found by itself, else auth). */
  schema?: string;
}

/** The options of the root program, merged with the command's own. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

/** Whether a JSON document went to stdout already: a failure then adds none (stdout stays one document). */
let jsonWritten = false;

/** JSON on stdout; the C1 controls and Unicode format characters JSON allows raw are written as \u escapes. */
export function printJson(value: unknown): void {
  jsonWritten = true;
  const text = JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
  process.stdout.write(`${text}\n`);
}

export function printLine(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Progress for humans goes to stderr, so stdout stays clean for --json and pipes. */
export function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Control characters of untrusted text (token claims, server messages, file contents) printed
 * escaped, so they can neither break the one-line contract nor drive the terminal.
 */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The error codes of `--json` failures (`error.code`); stable, documented in the README.
 * usage: a bad flag or argument (exit 2). Everything else exits 1.
 */
export const ERROR_CODES = [
  'usage', 'no_database', 'connect_timeout', 'connect_failed', 'not_installed', 'permission_denied',
  'jwt_rejected', 'database_error', 'failed', 'internal', 'ambiguous_installation', 'untrusted_installation',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FailureOptions {
  code?: ErrorCode;
  hint?: string;
  exitCode?: number;
  /** Under --json: printed with `error` added, instead of `{"error": …}` alone. */
  output?: Record<string, unknown>;
}

/** A failure that is not an exception (a rejected token, a failed sync): one line, exit 1 by default. */
export class CommandFailure extends Error {
  readonly options: FailureOptions;
  constructor(message: string, options: FailureOptions = {}) {
    super(message);
    this.name = 'CommandFailure';
    this.options = options;
  }
}

/** A bad combination of arguments found after parsing: exit 2, like a bad flag value. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Failure {
  code: ErrorCode;
  message: string;
  hint: string;
  exitCode: number;
}

const VERBOSE_HINT = 'run again with --verbose for the stack trace and the server\'s DETAIL';

/** What an error means for the user: a stable code, one line, a hint, an exit status. */
export function describeFailure(error: unknown): Failure {
  const message = escapeControl((error instanceof Error ? error.message : String(error)).trim());
  if (error instanceof CommandFailure) {
    return { code: error.options.code ?? 'failed', message, hint: error.options.hint ?? VERBOSE_HINT, exitCode: error.options.exitCode ?? 1 };
  }
  if (error instanceof InstallationError) {
    return { code: error.code, message, hint: error.hint, exitCode: 1 };
  }
  if (error instanceof UsageError || error instanceof CommanderError || error instanceof SchemaNameError) {
    return { code: 'usage', message: message.replace(/^error: /, ''), hint: 'see --help for the options and examples', exitCode: 2 };
  }
  if (error instanceof NoDatabaseError) {
    return { code: 'no_database', message, hint: 'npx authdb dev starts a local Postgres with authdb installed and prints its DATABASE_URL', exitCode: 1 };
  }
  if (error instanceof ConnectError) {
    const hint = error.code === 'connect_timeout'
      ? 'check the host and port (a firewall or a proxy that never answers); raise --connect-timeout or PGCONNECT_TIMEOUT for a slow network'
      : 'check the host, port and that the server is running';
    return { code: error.code, message, hint, exitCode: 1 };
  }
  if (error instanceof AuthdbError) {
    // the library's own errors: the code when it is one of the CLI's, else `failed`; the library's
    // hint; the options they name, as flags
    const code = (ERROR_CODES as readonly string[]).includes(error.code) ? error.code as ErrorCode : 'failed';
    return { code, message: asFlags(message), hint: error.hint ? asFlags(error.hint) : VERBOSE_HINT, exitCode: 1 };
  }
  const rejection = rejectionOf(error);
  if (rejection) {
    return { code: 'jwt_rejected', message: `jwt rejected: ${rejection.code}${rejection.detail ? ` (${escapeControl(rejection.detail)})` : ''}`, hint: 'see the rejection codes in docs/troubleshooting.md', exitCode: 1 };
  }
  const sqlstate = (error as { code?: unknown })?.code;
  if (typeof sqlstate === 'string' && /^[0-9A-Z]{5}$/.test(sqlstate)) {
    // 3F000 schema "auth" does not exist; 42883 function auth.… (or SCHEMA.…) does not exist
    if (sqlstate === '3F000' || (sqlstate === '42883' && /\bfunction [a-z_][a-z0-9_]*\./.test(message))) {
      return { code: 'not_installed', message, hint: 'authdb is not installed in this database: run `npx authdb migrate`', exitCode: 1 };
    }
    if (sqlstate === '42501') return { code: 'permission_denied', message, hint: 'run as the owner of the auth schema, or see docs/troubleshooting.md', exitCode: 1 };
    return { code: 'database_error', message, hint: VERBOSE_HINT, exitCode: 1 };
  }
  return { code: 'internal', message: message || 'unexpected error', hint: VERBOSE_HINT, exitCode: 1 };
}

/** The details --verbose adds below the one line: SQLSTATE, DETAIL, HINT, WHERE, the causes' stacks. */
function verboseLines(error: unknown): string[] {
  const lines: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const db = e as { code?: unknown; detail?: unknown; hint?: unknown; where?: unknown };
    if (typeof db.code === 'string') lines.push(`  code: ${db.code}`);
    for (const field of ['detail', 'hint', 'where'] as const) {
      if (typeof db[field] === 'string' && db[field]) lines.push(`  ${field}: ${escapeControl(db[field] as string)}`);
    }
    if (e instanceof Error && e.stack) lines.push(...e.stack.split('\n').map((line) => `  ${line}`));
  }
  return lines;
}

/** Reports a failure as the CLI contract says, and sets the exit status. */
export function reportFailure(error: unknown, options: { json?: boolean; verbose?: boolean }): void {
  const failure = describeFailure(error);
  process.stderr.write(`authdb: ${failure.message}${failure.code === 'usage' ? ' (see --help)' : ''}\n`);
  if (options.verbose) process.stderr.write(`${verboseLines(error).join('\n')}\n`);
  if (options.json) {
    const body = { error: { code: failure.code, message: failure.message, hint: failure.hint } };
    const output = error instanceof CommandFailure ? error.options.output : undefined;
    if (output) printJson({ ...output, ...body });
    else if (!jsonWritten) printJson(body);
  }
  process.exitCode = failure.exitCode;
}

/** Whether a command's action began: an error before that came from parsing the command line. */
let actionStarted = false;
export const parsingFinished = (): boolean => actionStarted;

/** Wraps a command's action: any error is reported by reportFailure. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    actionStarted = true;
    try {
      await run(...args);
    } catch (error) {
      const command = args[args.length - 1] as Command;
      reportFailure(error, globalOptions(command));
    }
  };
}
