// Which database a command talks to: --database-url, else DATABASE_URL, else the libpq PG* variables;
// and how long it waits for that database to answer.
import pg from 'pg';
import { AuthdbError } from './errors.js';

export class NoDatabaseError extends AuthdbError {
  declare readonly code: 'no_database';
  constructor() {
    super(
      'no_database',
      'no database given: pass --database-url URL, or set DATABASE_URL or the PG* variables ' +
        '(run `npx authdb dev` for a local Postgres with authdb installed)',
    );
  }
}

/** Connecting failed: `connect_timeout` when the server did not answer in time, else `connect_failed`. */
export class ConnectError extends AuthdbError {
  declare readonly code: 'connect_timeout' | 'connect_failed';
  constructor(message: string, code: 'connect_timeout' | 'connect_failed', options?: { cause?: unknown }) {
    super(code, message, { cause: options?.cause });
  }
}

const LIBPQ_VARIABLES = ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'] as const;

/** The connection string, or `undefined` when the libpq variables (read by pg itself) apply. */
export function resolveDatabaseUrl(explicitUrl?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (explicitUrl) return explicitUrl;
  if (env.DATABASE_URL) return env.DATABASE_URL;
  if (LIBPQ_VARIABLES.some((name) => env[name])) return undefined;
  throw new NoDatabaseError();
}

/** Seconds to wait for a server to complete the connection handshake; 0 waits forever (libpq's connect_timeout). */
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
let connectTimeoutSeconds = DEFAULT_CONNECT_TIMEOUT_SECONDS;

/** Sets the connect timeout of every connection opened here from now on (the CLI's --connect-timeout). */
export function setConnectTimeout(seconds: number): void {
  if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError('the connect timeout must be a number of seconds ≥ 0');
  connectTimeoutSeconds = seconds;
}

export function clientConfig(explicitUrl?: string): pg.ClientConfig {
  const url = resolveDatabaseUrl(explicitUrl);
  return { connectionString: url, application_name: 'authdb', connectionTimeoutMillis: Math.round(connectTimeoutSeconds * 1000) };
}

/**
 * Connects `client`, turning failures into a ConnectError that names the server (never the URL,
 * which may hold a password) and, for a server that accepted the socket but never answered, the
 * timeout that expired.
 */
export async function connect(client: pg.Client): Promise<void> {
  const started = Date.now();
  try {
    await client.connect();
  } catch (error) {
    const where = client.host?.startsWith('/') ? `the socket in ${client.host}` : `${client.host ?? 'localhost'}:${client.port}`;
    const timeoutMs = Math.round(connectTimeoutSeconds * 1000);
    const reason = error instanceof Error ? error.message : String(error);
    if (timeoutMs > 0 && (/timeout/i.test(reason) || Date.now() - started >= timeoutMs)) {
      throw new ConnectError(`no answer from ${where} within ${connectTimeoutSeconds} s (--connect-timeout)`, 'connect_timeout', { cause: error });
    }
    // a server's own refusal (bad password 28P01, unknown database 3D000, …) keeps its SQLSTATE
    if ((error as { code?: string }).code && /^[0-9A-Z]{5}$/.test((error as { code: string }).code)) throw error;
    throw new ConnectError(`could not connect to ${where}: ${reason}`, 'connect_failed', { cause: error });
  }
}

/**
 * docs/security.md §9: on an admin connection nothing another login created may resolve ahead of the
 * catalog. Relations and functions resolve in pg_catalog first, and pg_temp (this session's own) last;
 * SQL sent on such a connection still qualifies what it calls.
 */
export const ADMIN_SEARCH_PATH = 'pg_catalog, pg_temp';

export async function pinSearchPath(client: pg.ClientBase): Promise<void> {
  await client.query("SELECT pg_catalog.set_config('search_path', $1, false)", [ADMIN_SEARCH_PATH]);
}

/** Runs `work` with a connected client whose search_path is pinned, and always closes it. */
export async function withClient<T>(databaseUrl: string | undefined, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfig(databaseUrl));
  await connect(client);
  try {
    await pinSearchPath(client);
    return await work(client);
  } finally {
    await client.end();
  }
}
