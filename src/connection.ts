// Which database a command talks to: --database-url, else DATABASE_URL, else the libpq PG* variables.
import pg from 'pg';

export class NoDatabaseError extends Error {
  constructor() {
    super(
      'no database given: pass --database-url URL, or set DATABASE_URL or the PG* variables ' +
        '(run `authdb dev` for a local Postgres with authdb installed)',
    );
    this.name = 'NoDatabaseError';
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

export function clientConfig(explicitUrl?: string): pg.ClientConfig {
  const url = resolveDatabaseUrl(explicitUrl);
  return { connectionString: url, application_name: 'authdb' };
}

/**
 * Security model §9: on an admin connection nothing another login created may resolve ahead of the
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
  await client.connect();
  try {
    await pinSearchPath(client);
    return await work(client);
  } finally {
    await client.end();
  }
}
