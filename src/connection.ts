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

/** Runs `work` with a connected client and always closes it. */
export async function withClient<T>(databaseUrl: string | undefined, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfig(databaseUrl));
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
