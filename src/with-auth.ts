// withAuth: one transaction as the token's user, and a connection handed back as it was found
// (docs/security.md §10). The request flow, in two round trips besides the application's own:
//   1. BEGIN; SET LOCAL ROLE authenticated (anonymous without a token);
//      SET LOCAL search_path TO DEFAULT; … pg_temp appended last;
//      SELECT auth.init('<token>')                      [without a token: SELECT auth.reset()]
//      fn(client): the request's own queries
//   2. COMMIT (ROLLBACK when fn throws); CLOSE ALL; DISCARD TEMP; RESET ROLE; RESET search_path;
//      RESET authdb.identity
// The token travels inside the first simple query, as a literal: it is hostile, so it goes there
// only when every character is one of a compact JWS's (base64url and '.', RFC 7515 §7.1), which
// no quote, backslash or statement separator is, and is quoted by pg's escapeLiteral besides. Any
// other token goes to auth.init as a bound parameter in a round trip of its own (and is rejected
// there: it is not a compact JWS).
// The identity dies with the transaction. What the request's SQL may have left on the session —
// temporary tables (with triggers) that would shadow the next request's tables, a session-level
// SET ROLE or SET search_path (a request can COMMIT mid-way and run as the login role) — is undone
// in the COMMIT round trip. Other settings and the verified-token cache (`authdb.vcache`) stay.
import pg from 'pg';
import { AuthdbError } from './errors.js';
import { qualify } from './schema.js';

export interface WithAuthOptions {
  /** Role for requests with a token (default `authenticated`). */
  authenticatedRole?: string;
  /** Role for requests without a token (default `anonymous`). */
  anonymousRole?: string;
  /**
   * Schemas the request's unqualified names resolve in, e.g. `['app', 'public']`; `pg_temp` is
   * always appended last. Default: the connection's default search_path (ALTER ROLE/DATABASE …
   * SET search_path, or the `options` connection parameter), with `pg_temp` last.
   */
  searchPath?: string[];
  /** The schema authdb is installed in (default `auth`), e.g. `authdb` beside Supabase's auth schema. */
  schema?: string;
}

/** Thrown when `fn` resolved but its transaction had already failed, so COMMIT rolled back. */
export class TransactionAbortedError extends AuthdbError {
  constructor() {
    super('transaction_aborted', 'withAuth: the transaction failed inside fn (an error was caught there), so it was rolled back');
  }
}

/**
 * Run after every request, in the COMMIT/ROLLBACK round trip, as the login role. No DISCARD ALL or
 * RESET ALL: they would also drop the per-backend verified-token cache (the setting `authdb.vcache`).
 * - CLOSE ALL: a WITH HOLD cursor outlives COMMIT (and would keep a temporary table in use);
 * - DISCARD TEMP: temporary tables, their triggers, temporary functions and types;
 * - RESET ROLE / RESET search_path: a session-level SET in a transaction that commits persists;
 * - RESET authdb.identity: a session-scope identity (auth.init(jwt, 'session')) set by the request.
 */
export const REQUEST_CLEAN_UP = 'CLOSE ALL; DISCARD TEMP; RESET ROLE; RESET search_path; RESET authdb.identity';

/** pg_temp last: a temporary relation or type never shadows an unqualified name of the app's. */
const DEFAULT_SEARCH_PATH =
  "SET LOCAL search_path TO DEFAULT; SELECT pg_catalog.set_config('search_path', pg_catalog.concat(pg_catalog.current_setting('search_path'), ', pg_temp'), true)";

type Pool = pg.Pool;

function isPool(value: unknown): value is Pool {
  // Duck-typed, so a Pool from another copy of `pg` is recognised too.
  const candidate = value as Partial<Pool>;
  return typeof candidate.connect === 'function' && typeof candidate.totalCount === 'number';
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A compact JWS's characters only (RFC 7515 §7.1: base64url parts joined by '.'), and no more than auth.init accepts. */
const LITERAL_SAFE_TOKEN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_TOKEN_OCTETS = 16384;

/** Whether a token may travel as a literal in the first round trip (see the top of this file). */
function tokenFitsLiteral(jwt: string): boolean {
  return jwt.length <= MAX_TOKEN_OCTETS && LITERAL_SAFE_TOKEN.test(jwt);
}

/**
 * The first round trip: transaction, role, search_path, and the identity: auth.init of a token
 * that fits a literal, or (without a token) no identity at all, a session one included.
 */
function beginStatements(role: string, jwt: string | undefined, searchPath: string[] | undefined, schema: string | undefined): string {
  const path = searchPath ? `SET LOCAL search_path TO ${[...searchPath.map(quoteIdentifier), 'pg_temp'].join(', ')}` : DEFAULT_SEARCH_PATH;
  // Qualified before the token goes in: qualify rewrites `auth.` wherever it appears, and a token's
  // text (`…-auth.…` is base64url) must reach auth.init byte for byte.
  const identity = jwt === undefined ? `; SELECT ${qualify('auth.reset()', schema)}`
    : tokenFitsLiteral(jwt) ? `; SELECT ${qualify('auth.init', schema)}(${pg.escapeLiteral(jwt)}) IS NOT NULL` : '';
  return `BEGIN; SET LOCAL ROLE ${quoteIdentifier(role)}; ${path}${identity}`;
}

/**
 * Runs `fn` in one transaction whose identity is `jwt` (verified by auth.init), or anonymous when
 * `jwt` is null or undefined. Commits when `fn` resolves, rolls back when it throws (or when
 * auth.init rejects the token: that error, SQLSTATE 28000, is rethrown; see `rejectionOf`).
 * Either way the connection is then cleaned (REQUEST_CLEAN_UP).
 * Given a Pool, it checks a connection out and releases it; a connection whose ROLLBACK or clean-up
 * failed is released with the error, so the pool discards it. Given a client, the caller keeps it
 * (and should close it when withAuth throws a clean-up error).
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
  onBroken?: (error: Error) => void,
): Promise<T> {
  const hasToken = jwt !== null && jwt !== undefined;
  if (hasToken && typeof jwt !== 'string') throw new TypeError('withAuth: jwt must be a string, null or undefined');
  const role = hasToken ? (options.authenticatedRole ?? 'authenticated') : (options.anonymousRole ?? 'anonymous');
  let ended = false;
  try {
    await client.query(beginStatements(role, hasToken ? jwt : undefined, options.searchPath, options.schema));
    if (hasToken && !tokenFitsLiteral(jwt)) await client.query(qualify('SELECT auth.init($1)', options.schema), [jwt]);
    const result = await fn(client);
    // A multi-statement simple query answers with one result per statement.
    const results = (await client.query(`COMMIT; ${REQUEST_CLEAN_UP}`)) as unknown as pg.QueryResult[];
    ended = true;
    // COMMIT of a failed transaction reports ROLLBACK instead of raising.
    if (results[0]?.command === 'ROLLBACK') throw new TransactionAbortedError();
    return result;
  } catch (error) {
    if (!ended) {
      try {
        await client.query(`ROLLBACK; ${REQUEST_CLEAN_UP}`);
      } catch (cleanUpError) {
        // The connection may still carry the request's role, search_path or temporary objects.
        if (!onBroken) throw cleanUpError;
        onBroken(cleanUpError as Error);
      }
    }
    throw error;
  }
}
