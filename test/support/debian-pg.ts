// Throwaway clusters of Debian's PostgreSQL server package (the production-grade build), for tests
// that need a real installation: its extension directory, streaming replication, PgBouncer.
// Each cluster lives in its own temporary folder, runs as the `postgres` OS user (Postgres refuses
// to run as root) and listens on 127.0.0.1 on a free port and on a socket inside that folder.
import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const DEBIAN_PG_MAJOR = 15;
export const DEBIAN_PG_BIN = `/usr/lib/postgresql/${DEBIAN_PG_MAJOR}/bin`;
const OS_USER = 'postgres';

/** Why Debian's server cannot be used here, or `null` when it can (tests skip with this reason). */
export function debianPgUnavailable(): string | null {
  if (!existsSync(join(DEBIAN_PG_BIN, 'postgres'))) {
    return `Debian's PostgreSQL ${DEBIAN_PG_MAJOR} is not installed (${DEBIAN_PG_BIN}): apt-get install postgresql`;
  }
  if (process.platform !== 'linux') return 'Debian PostgreSQL clusters need Linux';
  if (userInfo().username !== OS_USER && process.getuid?.() !== 0) {
    return `Debian PostgreSQL clusters need to run as root (to switch to ${OS_USER}) or as ${OS_USER}`;
  }
  try {
    execFileSync('id', ['-u', OS_USER], { stdio: 'ignore' });
  } catch {
    return `no ${OS_USER} OS user`;
  }
  return null;
}

/** Runs a program as the `postgres` OS user; returns its stdout. A path without `/` is a Debian PG binary. */
export function runAsPostgres(program: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): string {
  const path = program.includes('/') ? program : join(DEBIAN_PG_BIN, program);
  const [command, commandArgs] = userInfo().username === OS_USER ? [path, args] : ['runuser', ['-u', OS_USER, '--', path, ...args]];
  return execFileSync(command, commandArgs, {
    input: options.input,
    timeout: options.timeoutMs ?? 120_000,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A folder the `postgres` OS user owns, under the system temp folder. */
export function postgresOwnedTempDir(prefix = 'authdb-debian-pg-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  giveToPostgres(dir);
  return dir;
}

function giveToPostgres(path: string): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }).trim());
  chownSync(path, uid, gid);
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

export interface ClusterOptions {
  /** Extra `postgresql.conf` lines, e.g. `{ wal_level: 'replica' }`. */
  settings?: Record<string, string>;
  /** Extra `pg_hba.conf` lines, appended after the defaults (trust for local and 127.0.0.1). */
  hba?: string[];
  /** An existing data directory to run instead of a new `initdb` (e.g. made by pg_basebackup). */
  dataDir?: string;
  /** Where that data directory's cluster keeps its temporary folder; default: a new one. */
  dir?: string;
}

function settingLine(name: string, value: string): string {
  return `${name} = '${value.replace(/'/g, "''")}'\n`;
}

/** Creates (initdb) and starts a cluster on a free port. Call `destroy()` when done. */
export async function startDebianCluster(options: ClusterOptions = {}): Promise<DebianCluster> {
  const unavailable = debianPgUnavailable();
  if (unavailable) throw new Error(unavailable);
  const dir = options.dir ?? postgresOwnedTempDir();
  const dataDir = options.dataDir ?? join(dir, 'data');
  const socketDir = join(dir, 'socket');
  const logFile = join(dir, 'postgres.log');
  if (!existsSync(socketDir)) {
    mkdirSync(socketDir);
    giveToPostgres(socketDir);
  }
  if (!options.dataDir) {
    runAsPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  }
  const port = await freePort();
  const conf = join(dataDir, 'postgresql.conf');
  const settings: Record<string, string> = {
    port: String(port),
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    fsync: 'off',
    ...options.settings,
  };
  // The file belongs to postgres; root may append to it, the ownership stays.
  appendFileSync(conf, `\n# authdb test cluster\n${Object.entries(settings).map(([k, v]) => settingLine(k, v)).join('')}`);
  if (options.hba?.length) appendFileSync(join(dataDir, 'pg_hba.conf'), `${options.hba.join('\n')}\n`);

  const start = () => void runAsPostgres('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60']);
  const stop = () => void runAsPostgres('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']);
  const running = () => {
    try {
      runAsPostgres('pg_ctl', ['status', '-D', dataDir]);
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
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop,
    start,
    destroy: () => {
      if (running()) stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
