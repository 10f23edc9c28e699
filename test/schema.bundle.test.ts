// The extension and pg_tle install paths with `--schema` (issue 14): `authdb bundle --format
// extension --schema authdb`, installed into Debian's PostgreSQL 15 extension directory, puts the
// whole API into schema authdb beside a Supabase-shaped auth schema, which CREATE and DROP EXTENSION
// leave as they found it; the CLI then finds the installation by itself.
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installScript, packageSources, pgTleScript } from '../src/bundle.js';
import { authdb, jsonOutput } from './support/cli.js';
import { startDebianCluster, type DebianCluster } from '../tools/pg-cluster.js';
import { extensionDir, extensionDirUnavailable, lockExtensionDir, unlockExtensionDir } from './support/extension-dir.js';
import { qualifyQueries } from './support/schema.js';
import { TestIssuer } from './support/tokens.js';

const unavailable = extensionDirUnavailable();
if (unavailable) console.warn(`extension --schema tests skipped: ${unavailable}`);

const SUPABASE = `
CREATE ROLE supabase_auth_admin NOLOGIN;
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticated NOLOGIN;
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid $$;
ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
GRANT USAGE ON SCHEMA auth TO anon, authenticated;`;

const AUTH_CATALOG = `SELECT p.oid::regprocedure::text || ' ' || pg_catalog.pg_get_userbyid(p.proowner) AS item
  FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
 UNION ALL SELECT 'owner ' || pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace WHERE nspname = 'auth'
 ORDER BY 1`;

it('the pg_tle script registers the extension scripts for the chosen schema, byte for byte', () => {
  const sources = packageSources('authdb');
  const script = pgTleScript(sources);
  expect(script).toContain(installScript(sources));
  expect(script).not.toMatch(/(?<![\w."$])auth\.[a-z_]/);
  expect(installScript(sources)).toMatch(/^CREATE SCHEMA authdb;$/m);
});

describe.skipIf(unavailable !== null)('CREATE EXTENSION authdb built with --schema authdb', () => {
  let cluster: DebianCluster;
  let backupDir: string;
  let bundleDir: string;
  const written: string[] = [];

  beforeAll(async () => {
    await lockExtensionDir();
    backupDir = mkdtempSync(join(tmpdir(), 'authdb-ext-backup-'));
    for (const name of readdirSync(extensionDir()).filter((file) => file === 'authdb.control' || file.startsWith('authdb--'))) {
      renameSync(join(extensionDir(), name), join(backupDir, name));
    }
    // Through the built binary, as a user builds it.
    bundleDir = mkdtempSync(join(tmpdir(), 'authdb-ext-schema-'));
    const bundle = await authdb(['bundle', '--format', 'extension', '--schema', 'authdb', '--out', bundleDir, '--json']);
    expect(bundle.code, bundle.stderr).toBe(0);
    for (const file of jsonOutput<{ files: { name: string; path: string }[] }>(bundle).files) {
      renameSync(file.path, join(extensionDir(), file.name));
      written.push(file.name);
    }
    cluster = await startDebianCluster();
  });

  afterAll(() => {
    cluster?.destroy();
    for (const name of written) rmSync(join(extensionDir(), name), { force: true });
    if (backupDir && existsSync(backupDir)) {
      for (const name of readdirSync(backupDir)) renameSync(join(backupDir, name), join(extensionDir(), name));
      rmSync(backupDir, { recursive: true, force: true });
    }
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
    unlockExtensionDir();
  });

  it('installs into authdb beside Supabase\'s auth schema, verifies tokens, and DROP EXTENSION leaves auth and the roles', async () => {
    expect(readFileSync(join(extensionDir(), 'authdb.control'), 'utf8')).toMatch(/creates schema authdb itself/);
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE app');
    await admin.end();
    const client = new pg.Client({ connectionString: cluster.url('app') });
    await client.connect();
    const pool = new pg.Pool({ connectionString: cluster.url('app'), max: 1 });
    pool.on('connect', (c) => qualifyQueries(c, 'authdb'));
    try {
      await client.query(SUPABASE);
      const before = (await client.query<{ item: string }>(AUTH_CATALOG)).rows;
      await client.query('CREATE EXTENSION authdb');
      expect((await client.query<{ item: string }>(AUTH_CATALOG)).rows).toEqual(before);
      const { rows } = await client.query(`SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_depend d ON d.refobjid = e.oid
          JOIN pg_catalog.pg_namespace n ON n.oid = d.objid AND d.classid = 'pg_catalog.pg_namespace'::regclass WHERE e.extname = 'authdb'`);
      expect(rows).toEqual([{ nspname: 'authdb' }]);

      const issuer = await TestIssuer.create(pool, 'supabase');
      const token = await issuer.hs256({ sub: 'dave' });
      expect((await client.query('SELECT authdb.verify($1) ->> $2 AS sub', [token, 'sub'])).rows[0].sub).toBe('dave');
      const list = await authdb(['provider', 'list', '--database-url', cluster.url('app'), '--json']);
      expect(list.code, list.stderr).toBe(0);
      expect(jsonOutput<{ name: string }[]>(list).map((p) => p.name)).toEqual(['supabase']);
      const status = await authdb(['migrate', 'status', '--database-url', cluster.url('app'), '--json']);
      expect(jsonOutput(status)).toMatchObject({ schema: 'authdb', installMethod: 'extension' });

      await client.query('DROP EXTENSION authdb');
      expect((await client.query("SELECT pg_catalog.to_regnamespace('authdb') IS NULL AS gone")).rows[0].gone).toBe(true);
      expect((await client.query<{ item: string }>(AUTH_CATALOG)).rows).toEqual(before);
      const roles = await client.query("SELECT count(*)::int AS n FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated', 'anonymous')");
      expect(roles.rows[0].n).toBe(3);
    } finally {
      await pool.end();
      await client.end();
    }
  });
});
