// withAuth: one transaction as the token's user. The request flow is
//   BEGIN → SET LOCAL ROLE authenticated (anonymous without a token) → auth.init(jwt) → fn → COMMIT
// and the identity dies with the transaction, so a pooled connection goes back to the pool clean.
import type pg from 'pg';

export interface WithAuthOptions {
  /** Role for requests with a token (default `authenticated`). */
  authenticatedRole?: string;
  /** Role for requests without a token (default `anonymous`). */
  anonymousRole?: string;
}

/** Thrown when `fn` resolved but its transaction had already failed, so COMMIT rolled back. */
export class TransactionAbortedError extends Error {
  constructor() {
    super('withAuth: the transaction failed inside fn (an error was caught there), so it was rolled back');
    this.name = 'TransactionAbortedError';
  }
}

type Pool = pg.Pool;

function isPool(value: unknown): value is Pool {
  // Duck-typed, so a Pool from another copy of `pg` is recognised too.
  const candidate = value as Partial<Pool>;
  return typeof candidate.connect === 'function' && typeof candidate.totalCount === 'number';
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Runs `fn` in one transaction whose identity is `jwt` (verified by auth.init), or anonymous when
 * `jwt` is null or undefined. Commits when `fn` resolves, rolls back when it throws (or when
 * auth.init rejects the token: that error, SQLSTATE 28000, is rethrown; see `rejectionOf`).
 * Given a Pool, it checks a connection out and releases it; a connection whose ROLLBACK failed is
 * released with the error, so the pool discards it. Given a client, the caller keeps it.
 */
export function withAuth<T>(pool: pg.Pool, jwt: string | null | undefined, fn: (client: pg.PoolClient) => Promise<T>, options?: WithAuthOptions): Promise<T>;
export function withAuth<T, C extends pg.ClientBase>(client: C, jwt: string | null | undefined, fn: (client: C) => Promise<T>, options?: WithAuthOptions): Promise<T>;
export async function withAuth<T>(
  poolOrClient: pg.Pool | pg.ClientBase,
  jwt: string | null | undefined,
  fn: (client: never) => Promise<T>,
  options: WithAuthOptions = {},
): Promise<T> {
  if (!isPool(poolOrClient)) return inTransaction(poolOrClient as pg.ClientBase, jwt, fn as (client: pg.ClientBase) => Promise<T>, options);
  const client = await poolOrClient.connect();
  let broken: Error | undefined;
  // A checked-out client has no 'error' listener of the pool's: without this one, a connection
  // lost mid-request (server restart, pg_terminate_backend) would crash the process.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    return await inTransaction(client, jwt, fn as (client: pg.ClientBase) => Promise<T>, options, onError);
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

async function inTransaction<T, C extends pg.ClientBase>(
  client: C,
  jwt: string | null | undefined,
  fn: (client: C) => Promise<T>,
  options: WithAuthOptions,
  onBroken: (error: Error) => void = () => undefined,
): Promise<T> {
  const hasToken = jwt !== null && jwt !== undefined;
  if (hasToken && typeof jwt !== 'string') throw new TypeError('withAuth: jwt must be a string, null or undefined');
  const role = hasToken ? (options.authenticatedRole ?? 'authenticated') : (options.anonymousRole ?? 'anonymous');
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL ROLE ${quoteIdentifier(role)}`);
    // Without a token: forget any identity (a session one too), so nothing carries over.
    if (hasToken) await client.query('SELECT auth.init($1)', [jwt]);
    else await client.query('SELECT auth.reset()');
    const result = await fn(client);
    const commit = await client.query('COMMIT');
    // COMMIT of a failed transaction reports ROLLBACK instead of raising.
    if ((commit as pg.QueryResult).command === 'ROLLBACK') throw new TransactionAbortedError();
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      onBroken(rollbackError as Error);
    }
    throw error;
  }
}
