// The install paths of `authdb bundle` on Debian's PostgreSQL 15 server package: the extension
// (installed into the server's real extension directory), its upgrade path, and the SQL file, each
// compared with what `authdb migrate` installs. Roles are cluster-wide, so each path gets its own
// cluster: each one creates the roles itself.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extensionBundle, installScript, packageSources, sqlFileScript, type BundleSources } from '../src/bundle.js';
import { migrateStatus, migrateUp } from '../src/migrate.js';
import { functionsDigest, type SqlFile } from '../src/sources.js';
import { pgError } from './support/db.js';
import { authCatalog, type CatalogSnapshot } from './support/catalog.js';
import { DEBIAN_PG_BIN, startDebianCluster, type DebianCluster } from '../tools/pg-cluster.js';
import { extensionDir, extensionDirUnavailable, lockExtensionDir, unlockExtensionDir } from './support/extension-dir.js';
import { TestIssuer } from './support/tokens.js';

const unavailable = extensionDirUnavailable();
if (unavailable) console.warn(`bundle install tests skipped: ${unavailable}`);

// The synthetic earlier releases: release k ran the first k migrations. Its function set is this
// package's with one visible difference (auth.version() answers 'stale'), so the tests see the
// update script replace functions, not only add tables; and one SECURITY DEFINER function the
// current set no longer defines, which every upgrade path must drop.
const STALE_VERSION_BODY = "  SELECT 'stale'::text";
const STALE_FUNCTION: SqlFile = {
  name: '98_stale.sql',
  sql: `CREATE OR REPLACE FUNCTION auth._stale_fn() RETURNS text LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $$ SELECT 'stale'::text $$;`,
};
function staleFunctions(functions: SqlFile[]): SqlFile[] {
  let changed = 0;
  const result = functions.map((file) => {
    const sql = file.sql.replace('  SELECT version FROM auth.installation', () => (changed++, STALE_VERSION_BODY));
    return { ...file, sql };
  });
  if (changed !== 1) throw new Error('test fixture: auth.version() body not found once in sql/functions; update staleFunctions');
  return [...result, STALE_FUNCTION].sort((a, b) => a.name.localeCompare(b.name));
}
const priorVersion = (k: number) => `0.1.0-pre.${k}`;

let migrated: DebianCluster;
let extension: DebianCluster;
let sqlFile: DebianCluster;
const clients: pg.Client[] = [];
const pools: pg.Pool[] = [];
let current: BundleSources;
let priors: BundleSources[];
let backupDir: string;
const written: string[] = [];
let migratedSnapshot: CatalogSnapshot;
let freshMembers: string[];

async function connect(cluster: DebianCluster, database: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: cluster.url(database) });
  await client.connect();
  clients.push(client);
  return client;
}

async function createDatabase(cluster: DebianCluster, name: string): Promise<pg.Client> {
  const admin = await connect(cluster, 'postgres');
  await admin.query(`CREATE DATABASE ${name}`);
  return connect(cluster, name);
}

/** Debian's psql, as a user would run the SQL file. */
function psqlFile(cluster: DebianCluster, database: string, file: string): string {
  return execFileSync(join(DEBIAN_PG_BIN, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', cluster.url(database), '-f', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe.skipIf(unavailable !== null)('authdb bundle on Debian PostgreSQL 15', () => {
  beforeAll(async () => {
    const sources = packageSources();
    priors = [];
    for (let k = 1; k < sources.migrations.length; k += 1) {
      priors.push({ version: priorVersion(k), migrations: sources.migrations.slice(0, k), functions: staleFunctions(sources.functions), earlierReleases: [] });
    }
    current = {
      ...sources,
      earlierReleases: priors.map((prior) => ({ version: prior.version, lastMigration: prior.migrations.at(-1)!.name.replace(/\.sql$/, '') })),
    };
    // The extension directory is shared by every test run on this machine: one run at a time.
    await lockExtensionDir();
    // Install into the server's extension directory; whatever authdb files were there are put back afterwards.
    backupDir = mkdtempSync(join(tmpdir(), 'authdb-ext-backup-'));
    for (const name of readdirSync(extensionDir()).filter((file) => file === 'authdb.control' || file.startsWith('authdb--'))) {
      renameSync(join(extensionDir(), name), join(backupDir, name));
    }
    const files = [...extensionBundle(current), ...priors.map((prior) => ({ name: `authdb--${prior.version}.sql`, content: installScript(prior) }))];
    for (const file of files) {
      writeFileSync(join(extensionDir(), file.name), file.content);
      written.push(file.name);
    }
    [migrated, extension, sqlFile] = await Promise.all([startDebianCluster(), startDebianCluster(), startDebianCluster()]);
    const client = await createDatabase(migrated, 'app');
    await migrateUp(client);
    migratedSnapshot = await authCatalog(client);
  });

  afterAll(async () => {
    for (const pool of pools) await pool.end().catch(() => undefined);
    for (const client of clients) await client.end().catch(() => undefined);
    for (const cluster of [migrated, extension, sqlFile]) cluster?.destroy();
    for (const name of written) rmSync(join(extensionDir(), name), { force: true });
    if (backupDir && existsSync(backupDir)) {
      for (const name of readdirSync(backupDir)) renameSync(join(backupDir, name), join(extensionDir(), name));
      rmSync(backupDir, { recursive: true, force: true });
    }
    unlockExtensionDir();
  });

  it('CREATE EXTENSION authdb installs the catalog that authdb migrate installs', async () => {
    const client = await createDatabase(extension, 'app');
    await client.query('CREATE EXTENSION authdb');
    const snapshot = await authCatalog(client);
    expect(snapshot.functions!.length).toBeGreaterThan(20);
    expect(snapshot.roles).toHaveLength(2);
    expect(snapshot).toEqual(migratedSnapshot);

    const { rows } = await client.query(`
      SELECT e.extversion, i.functions_sha256,
             (SELECT pg_catalog.array_agg(c::regclass::text ORDER BY 1) FROM pg_catalog.unnest(e.extconfig) c) AS dumped
        FROM pg_catalog.pg_extension e, auth.installation i WHERE e.extname = 'authdb'`);
    expect(rows[0].extversion).toBe(current.version);
    expect(rows[0].functions_sha256).toBe(functionsDigest(current.functions));
    // Users' data is dumped by pg_dump; what the script itself writes is not.
    expect(rows[0].dumped).toEqual(expect.arrayContaining(['auth.providers', 'auth.keys', 'auth.hmac_keys']));
    expect(rows[0].dumped).not.toContain('auth.seal_secret');
    expect(rows[0].dumped).not.toContain('auth.algorithms');

    // Everything in the schema belongs to the extension: DROP EXTENSION removes it all.
    freshMembers = await extensionMembers(client);
    expect(freshMembers).toContain('schema auth');
    expect(freshMembers).toContain('function auth.init(text,text)');
    expect(freshMembers).toContain('table auth.keys');
  });

  it('verifies a token in a database where authdb is an extension, also after pg_dump and restore', async () => {
    const pool = new pg.Pool({ connectionString: extension.url('app'), max: 2 });
    pools.push(pool);
    const issuer = await TestIssuer.create(pool, 'idp');
    const token = await issuer.hs256({ sub: 'alice' });
    const { rows } = await pool.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub']);
    expect(rows[0].sub).toBe('alice');

    // Providers and keys are extension tables: pg_dump keeps their rows and their ids' sequences.
    const dump = execFileSync(join(DEBIAN_PG_BIN, 'pg_dump'), ['-d', extension.url('app')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const restored = await createDatabase(extension, 'restored');
    execFileSync(join(DEBIAN_PG_BIN, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', extension.url('restored')], { input: dump, stdio: ['pipe', 'pipe', 'pipe'] });
    const again = await restored.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub']);
    expect(again.rows[0].sub).toBe('alice');
    await restored.query("SELECT auth.add_provider('second', 'https://second.test', NULL, ARRAY['api'])");
    expect((await restored.query('SELECT count(*)::int AS n FROM auth.providers')).rows[0].n).toBe(2);
  });

  it('ALTER EXTENSION authdb UPDATE from a release at every earlier migration equals a fresh install', async () => {
    expect(priors.length).toBeGreaterThan(0);
    for (const prior of priors) {
      const name = `upgrade_${prior.migrations.length}`;
      const client = await createDatabase(extension, name);
      await client.query(`CREATE EXTENSION authdb VERSION '${prior.version}'`);
      const before = await authCatalog(client);
      expect(before.version, prior.version).toEqual([{ version: 'stale' }]);
      expect((await client.query("SELECT pg_catalog.to_regprocedure('auth._stale_fn()')::text AS fn")).rows[0].fn).toBe('auth._stale_fn()');
      expect(before, prior.version).not.toEqual(migratedSnapshot);

      await client.query('ALTER EXTENSION authdb UPDATE');
      const { rows } = await client.query("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'authdb'");
      expect(rows[0].extversion).toBe(current.version);
      expect(await authCatalog(client), `upgrade from ${prior.version}`).toEqual(migratedSnapshot);
      expect(await extensionMembers(client), `members after upgrade from ${prior.version}`).toEqual(freshMembers);
    }
  });

  it('the install paths refuse each other with a clear message', async () => {
    const withExtension = await connect(extension, 'app');
    await expect(migrateUp(withExtension)).rejects.toThrow(
      /authdb \S+ is installed as an extension in this database .*ALTER EXTENSION authdb UPDATE, not authdb migrate/,
    );
    expect((await migrateStatus(withExtension)).installMethod).toBe('extension');
    const sqlError = await pgError(withExtension.query(sqlFileScript(current)));
    expect(sqlError.message).toBe('authdb is installed as an extension in this database');

    const withMigrate = await connect(migrated, 'app');
    expect((await migrateStatus(withMigrate)).installMethod).toBe('migrate');
    const extensionError = await pgError(withMigrate.query('CREATE EXTENSION authdb'));
    expect(extensionError).toMatchObject({ code: '42P06', message: 'auth schema already installed by authdb migrate (or the authdb SQL file)' });

    const foreign = await createDatabase(extension, 'foreign_auth');
    await foreign.query('CREATE SCHEMA auth');
    const foreignError = await pgError(foreign.query('CREATE EXTENSION authdb'));
    expect(foreignError).toMatchObject({ code: '42P06', message: 'schema auth already exists and was not created by authdb' });
  });

  it('the SQL file, run twice with psql, installs what authdb migrate installs and hands over to it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authdb-sql-file-'));
    try {
      const file = join(dir, 'authdb.sql');
      writeFileSync(file, sqlFileScript(current));
      const client = await createDatabase(sqlFile, 'app');
      psqlFile(sqlFile, 'app', file);
      const once = await authCatalog(client);
      psqlFile(sqlFile, 'app', file);
      expect(await authCatalog(client)).toEqual(once);
      expect(once).toEqual(migratedSnapshot);

      const ledger = 'SELECT name FROM public.authdb_migrations ORDER BY run_on, id';
      const table = `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
                            pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default
                       FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                      WHERE a.attrelid = 'public.authdb_migrations'::regclass AND a.attnum > 0 ORDER BY a.attnum`;
      const byMigrate = await connect(migrated, 'app');
      expect((await client.query(ledger)).rows).toEqual((await byMigrate.query(ledger)).rows);
      expect((await client.query(table)).rows).toEqual((await byMigrate.query(table)).rows);

      const result = await migrateUp(client);
      // (Only true when someone edits sql/functions while this test runs.)
      expect(result).toMatchObject({ migrations: [], functionsUpdated: functionsDigest() !== functionsDigest(current.functions) });
      expect(await migrateStatus(client)).toMatchObject({ pending: [], functionsCurrent: true, installMethod: 'migrate' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the SQL file upgrades a database an older SQL file installed, and refuses to downgrade one', async () => {
    const oldest = priors[0]!;
    const client = await createDatabase(sqlFile, 'upgrade');
    await client.query(sqlFileScript(oldest));
    expect((await client.query('SELECT auth.version() AS v')).rows[0].v).toBe('stale');
    await client.query(sqlFileScript(current));
    expect(await authCatalog(client)).toEqual(migratedSnapshot);

    const error = await pgError(client.query(sqlFileScript(oldest)));
    expect(error.message).toBe(`this database has authdb migrations this SQL file (authdb ${oldest.version}) does not have`);
    expect(await authCatalog(client)).toEqual(migratedSnapshot);
  });
});

// ---- extension membership ------------------------------------------------------------------

/** The objects the authdb extension owns, as descriptions ("function auth.init(text,text)"). */
async function extensionMembers(client: pg.ClientBase | pg.Pool): Promise<string[]> {
  const { rows } = await client.query<{ object: string }>(`
    SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS object
      FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'authdb'
     ORDER BY 1`);
  return rows.map((row) => row.object);
}
