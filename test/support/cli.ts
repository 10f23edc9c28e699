// The CLI as a user runs it: the built binary (`node dist/cli/authdb.js …`), in a child process,
// with its exit code, stdout and stderr. `npm run test:all` builds dist/ before the suite runs.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_PATH = join(REPO_ROOT, 'dist', 'cli', 'authdb.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Extra environment; the connection variables of the test process are never inherited. */
  env?: Record<string, string | undefined>;
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

const CONNECTION_VARIABLES = ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGSERVICE', 'PGCONNECT_TIMEOUT'];

/** A run of the binary in the background, for commands that run until a signal (`dev`, `sync-jwks --watch`). */
export interface CliRun {
  child: ChildProcessWithoutNullStreams;
  /** Resolves when it exits (never rejects on exit codes). */
  done: Promise<CliResult>;
  kill(signal: NodeJS.Signals): void;
  stdoutSoFar(): string;
  stderrSoFar(): string;
}

/** Starts `node dist/cli/authdb.js ...args`; `timeoutMs: 0` lets it run until killed. */
export function startAuthdb(args: string[], options: CliOptions = {}): CliRun {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run \`npm run build\` first`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONNECTION_VARIABLES) delete env[name];
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd: options.cwd ?? REPO_ROOT, env, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = timeoutMs > 0 ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  return { child, done, kill: (signal) => void child.kill(signal), stdoutSoFar: () => stdout, stderrSoFar: () => stderr };
}

/** Runs `node dist/cli/authdb.js ...args` and resolves when it exits (never rejects on exit codes). */
export function authdb(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startAuthdb(args, options).done;
}

/** The first complete JSON document a background run prints (e.g. `authdb dev --json`); rejects if it exits first. */
export function firstJson<T = unknown>(run: CliRun): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const attempt = () => {
      try {
        resolve(JSON.parse(run.stdoutSoFar()) as T);
      } catch {
        // not complete yet
      }
    };
    run.child.stdout.on('data', attempt);
    void run.done.then((result) => reject(new Error(`authdb ${result.code ?? result.signal} before printing JSON: ${result.stderr}`)));
  });
}

/** A failure as the contract says: the given exit code, one line on stderr, no stack trace. */
export function expectOneLineError(result: CliResult, exitCode: number, pattern?: RegExp): void {
  expect(result.code, `stderr: ${result.stderr}`).toBe(exitCode);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  if (pattern) expect(result.stderr).toMatch(pattern);
}

/** stdout of a `--json` run, parsed (fails the test when it is not one JSON document). */
export function jsonOutput<T = unknown>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}): ${result.stdout}\nstderr: ${result.stderr}`);
  }
}
