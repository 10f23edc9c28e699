// Session identities and pid reuse (docs/security.md §11): with the recommended non-superuser
// schema owner and a separate application login, the owner cannot see the backend's start time,
// and pid + server start + client port is all another backend could reproduce. Session scope is
// then refused; once the owner may see backend start times, a session seal is bound to them.
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateUp } from '../src/migrate.js';
import { adminUrl, pgError } from './support/db.js';
import { databaseUrl } from './support/urls.js';
import { TestIssuer } from './support/tokens.js';

const suffix = randomBytes(4).toString('hex');
const OWNER = `authdb_owner_${suffix}`;
const APP = `authdb_app_${suffix}`;
const DATABASE = `authdb_binding_${suffix}`;
const PASSWORD = randomBytes(12).toString('hex');

let admin: pg.Pool;
let owner: pg.Pool;
let app: pg.Pool;
let issuer: TestIssuer;

function urlAs(user: string): string {
  const url = new URL(databaseUrl(adminUrl(), DATABASE));
  url.username = user;
  url.password = PASSWORD;
  return url.toString();
}

beforeAll(async () => {
  admin = new pg.Pool({ connectionString: adminUrl(), max: 1 });
  await admin.query(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
  await admin.query(`CREATE ROLE ${APP} LOGIN PASSWORD '${PASSWORD}' IN ROLE authenticated`);
  await admin.query(`CREATE DATABASE ${DATABASE} OWNER ${OWNER}`);
  const migrator = new pg.Client({ connectionString: urlAs(OWNER) });
  await migrator.connect();
  try {
    await migrateUp(migrator);
  } finally {
    await migrator.end();
  }
  owner = new pg.Pool({ connectionString: urlAs(OWNER), max: 2 });
  app = new pg.Pool({ connectionString: urlAs(APP), max: 2 });
  issuer = await TestIssuer.create(owner, 'idp');
});

afterAll(async () => {
  await app?.end();
  await owner?.end();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`DROP ROLE IF EXISTS ${APP}`);
  await admin.query(`DROP ROLE IF EXISTS ${OWNER}`);
  await admin.end();
});

describe('a non-superuser schema owner serving a separate login', () => {
  it('refuses session scope with a clear error, and transaction scope works', async () => {
    expect((await owner.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0].rolsuper).toBe(false);
    const token = await issuer.hs256({ sub: 'alice' });
    const client = await app.connect();
    try {
      const error = await pgError(client.query(`SELECT auth.init($1, 'session')`, [token]));
      expect(error.code).toBe('55000');
      expect(error.message).toMatch(/session scope is not available/);
      expect((await pgError(client.query('SELECT auth.jwt_session_init($1)', [token]))).code).toBe('55000');
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBeNull();
      await client.query('BEGIN');
      await client.query('SELECT auth.init($1)', [token]);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('alice');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });

  it('never accepts a session value sealed over what a same-pid backend reproduces (pid, server start, client port)', async () => {
    const secret = (await owner.query('SELECT ipad_key, opad_key, generation::text AS g FROM auth.seal_secret')).rows[0];
    const keyId = (await owner.query("SELECT id::text FROM auth.keys WHERE kid = 'hs256-default'")).rows[0].id as string;
    const seal = (message: string) => {
      const inner = createHash('sha256').update(Buffer.concat([secret.ipad_key, Buffer.from(`identity\n${message}`)])).digest();
      return `${secret.g}:${createHash('sha256').update(Buffer.concat([secret.opad_key, inner])).digest('hex')}`;
    };
    for (const grantStats of [false, true]) {
      if (grantStats) await admin.query(`GRANT pg_read_all_stats TO ${OWNER}`);
      const client = await app.connect();
      try {
        const b = (await client.query(
          'SELECT pg_backend_pid() AS pid, extract(epoch FROM pg_postmaster_start_time())::text AS pm, inet_client_port() AS port',
        )).rows[0];
        const head = `s|9999999999|${keyId}`;
        const body = 'alice||{"sub":"alice"}';
        // what 0.1 bound a session to when the owner could not see backend_start
        const value = `${head}|${seal(`${head}|${b.pid}|${b.pm}/${b.port}|${body}`)}|${body}`;
        await client.query(`SELECT set_config('authdb.identity', $1, false)`, [value]);
        const outcome = await client.query('SELECT auth.user_id() AS sub').then((r) => r.rows[0].sub, (e: pg.DatabaseError) => e.code);
        expect(outcome, `pg_read_all_stats granted: ${grantStats}`).toBe(grantStats ? '28000' : null);
        await client.query("SELECT set_config('authdb.identity', '', false)");
      } finally {
        client.release();
      }
    }
    await admin.query(`REVOKE pg_read_all_stats FROM ${OWNER}`);
  });

  it('with pg_read_all_stats granted to the owner, session scope works and is bound to this backend', async () => {
    await admin.query(`GRANT pg_read_all_stats TO ${OWNER}`);
    const a = await app.connect();
    const b = await app.connect();
    try {
      await a.query(`SELECT auth.init($1, 'session')`, [await issuer.hs256({ sub: 'carol' })]);
      expect((await a.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('carol');
      const value = (await a.query(`SELECT current_setting('authdb.identity') AS v`)).rows[0].v as string;
      await b.query(`SELECT set_config('authdb.identity', $1, false)`, [value]);
      expect((await pgError(b.query('SELECT auth.user_id()'))).code).toBe('28000');
      // the grant withdrawn: the session identity stops holding (no identity, not an error)
      await admin.query(`REVOKE pg_read_all_stats FROM ${OWNER}`);
      expect((await a.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBeNull();
    } finally {
      await a.query("SELECT set_config('authdb.identity', '', false)");
      await b.query("SELECT set_config('authdb.identity', '', false)");
      a.release();
      b.release();
      await admin.query(`REVOKE pg_read_all_stats FROM ${OWNER}`);
    }
  });
});
