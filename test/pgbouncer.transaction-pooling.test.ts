// authdb behind PgBouncer in transaction pooling mode (security model §3): many clients share a
// few server connections, so an identity must end with its transaction. Transaction scope keeps
// every client's identity its own; session scope leaks to whichever client gets the connection
// next, which is why it is not the default (docs/poolers.md). PgBouncer is Debian's package, in
// front of the test server of this run (so it runs on every major of the version matrix).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/embedded.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { serverTempDir, serverUser, writeServerFile } from '../tools/pg-cluster.js';
import { TestIssuer } from './support/tokens.js';

const PGBOUNCER = '/usr/sbin/pgbouncer';
const available = existsSync(PGBOUNCER);
if (!available && process.env.CI) throw new Error(`CI needs Debian's pgbouncer package (${PGBOUNCER})`);
if (!available) console.warn(`PgBouncer tests skipped: no ${PGBOUNCER} (apt-get install pgbouncer)`);

const CLIENTS = 20;
const ROUNDS = 5;

interface PgBouncer {
  url(database: string): string;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer on loopback in transaction mode, in front of the database `db`: pool `app` with
 * default_pool_size 2 and pool `app_single` with one server connection (deterministic sharing).
 */
async function startPgBouncer(db: TestDatabase): Promise<PgBouncer> {
  const target = new URL(db.url);
  const user = decodeURIComponent(target.username);
  const password = decodeURIComponent(target.password);
  const dir = serverTempDir('authdb-pgbouncer-');
  const port = await freePort();
  const server = `host=${target.hostname} port=${target.port || 5432} dbname=${db.name}`;
  writeServerFile(join(dir, 'userlist.txt'), `"${user}" "${password}"\n`);
  writeServerFile(join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `app = ${server}`,
    `app_single = ${server} pool_size=1`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    'default_pool_size = 2',
    'max_client_conn = 200',
    'ignore_startup_parameters = extra_float_digits',
    '',
  ].join('\n'));
  const child: ChildProcess = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], {
    ...serverUser(), stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
  const url = (database: string) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url('app') });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`PgBouncer did not start: ${(error as Error).message}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let db: TestDatabase;
let issuer: TestIssuer;
let bouncer: PgBouncer | undefined;
const clients: pg.Client[] = [];

async function connect(database: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: bouncer!.url(database) });
  await client.connect();
  clients.push(client);
  return client;
}

beforeAll(async () => {
  if (!available) return;
  db = await createTestDatabase();
  issuer = await TestIssuer.create(db.pool, 'idp');
  await issuer.hs256(); // registers the HS256 key once, before tokens are minted concurrently
  bouncer = await startPgBouncer(db);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  await bouncer?.stop();
  await db?.drop();
});

describe.skipIf(!available)('PgBouncer, transaction pooling', () => {
  it(`${CLIENTS} concurrent clients over 2 server connections each see only their own identity`, async () => {
    const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => issuer.hs256({ sub: `user-${i}` })));
    const seen: { client: number; sub: string | null; pid: number; inTransaction: boolean }[] = [];
    await Promise.all(tokens.map(async (token, i) => {
      const client = await connect('app');
      for (let round = 0; round < ROUNDS; round++) {
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await client.query('SELECT auth.init($1)', [token]);
        // yield the server connection's other clients a chance to interleave
        await client.query('SELECT pg_sleep(random() * 0.005)');
        const inside = await client.query('SELECT auth.user_id() AS sub, pg_backend_pid() AS pid');
        await client.query('COMMIT');
        seen.push({ client: i, ...inside.rows[0], inTransaction: true });
        // outside any transaction: whichever server connection runs this carries no identity
        const outside = await client.query('SELECT auth.user_id() AS sub, pg_backend_pid() AS pid');
        seen.push({ client: i, ...outside.rows[0], inTransaction: false });
      }
    }));
    const inside = seen.filter((s) => s.inTransaction);
    const outside = seen.filter((s) => !s.inTransaction);
    expect(inside).toHaveLength(CLIENTS * ROUNDS);
    expect(inside.filter((s) => s.sub !== `user-${s.client}`)).toEqual([]);
    expect(outside.filter((s) => s.sub !== null)).toEqual([]);
    // the clients really shared server connections: at most default_pool_size backends served them all
    const pids = new Set(seen.map((s) => s.pid));
    expect(pids.size).toBeGreaterThanOrEqual(1);
    expect(pids.size).toBeLessThanOrEqual(2);
    const clientsPerPid = [...pids].map((pid) => new Set(inside.filter((s) => s.pid === pid).map((s) => s.client)).size);
    expect(Math.max(...clientsPerPid)).toBeGreaterThanOrEqual(CLIENTS / 2);
  });

  it('with transaction scope, the next client on the same server connection sees no identity', async () => {
    const alice = await connect('app_single');
    const bob = await connect('app_single');
    await alice.query('BEGIN');
    await alice.query('SET LOCAL ROLE authenticated');
    await alice.query('SELECT auth.init($1)', [await issuer.hs256({ sub: 'alice' })]);
    const during = await alice.query('SELECT auth.user_id() AS sub, pg_backend_pid() AS pid');
    await alice.query('COMMIT');
    const after = await bob.query('SELECT auth.user_id() AS sub, pg_backend_pid() AS pid');
    expect(during.rows[0].sub).toBe('alice');
    expect(after.rows[0].pid).toBe(during.rows[0].pid); // same server connection (pool_size=1)
    expect(after.rows[0].sub).toBeNull();
  });

  it('session scope is unsafe here: another client observes the identity through the shared connection', async () => {
    const alice = await connect('app_single');
    const mallory = await connect('app_single');
    const set = await alice.query(`SELECT auth.init($1, 'session') ->> 'sub' AS sub, pg_backend_pid() AS pid`,
      [await issuer.hs256({ sub: 'alice' })]);
    expect(set.rows[0].sub).toBe('alice');
    // mallory never presented a token, yet the server connection still carries alice's session identity
    const leaked = await mallory.query('SELECT auth.user_id() AS sub, pg_backend_pid() AS pid');
    expect(leaked.rows[0].pid).toBe(set.rows[0].pid);
    expect(leaked.rows[0].sub).toBe('alice');
    await mallory.query('SELECT auth.reset()');
    expect((await alice.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBeNull();
  });
});
