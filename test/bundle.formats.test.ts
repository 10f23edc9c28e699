// The bundle formats without a server install: pg_tle registration against a stand-in pgtle
// schema (pg_tle itself is not available here), quoting, sql/releases.json, and the CLI.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFiles, extensionBundle, packageSources, parseReleases, pgTleScript, type BundleSources } from '../src/bundle.js';
import { dollarQuote } from '../src/bundle/quote.js';
import { packageRoot, type SqlFile } from '../src/sources.js';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { createTestDatabase, pgError, type TestDatabase } from './support/db.js';

// What pg_tle's registration functions receive, recorded instead of acted on.
const PGTLE_STAND_IN = `
CREATE SCHEMA pgtle;
CREATE TABLE pgtle.calls (id serial PRIMARY KEY, fn text NOT NULL, args text[] NOT NULL);
CREATE TABLE pgtle.versions (name text NOT NULL, version text NOT NULL);
CREATE FUNCTION pgtle.available_extensions() RETURNS TABLE (name text, default_version text, description text)
  LANGUAGE sql AS $$ SELECT DISTINCT v.name, v.version, '' FROM pgtle.versions v $$;
CREATE FUNCTION pgtle.available_extension_versions() RETURNS TABLE (name text, version text)
  LANGUAGE sql AS $$ SELECT v.name, v.version FROM pgtle.versions v $$;
CREATE FUNCTION pgtle.install_extension(name text, version text, description text, ext text, requires text[] DEFAULT NULL)
  RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO pgtle.calls (fn, args) VALUES ('install_extension', ARRAY[name, version, description, ext]);
    INSERT INTO pgtle.versions VALUES (name, version);
    SELECT true $$;
CREATE FUNCTION pgtle.install_update_path(name text, fromvers text, tovers text, ext text)
  RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO pgtle.calls (fn, args) VALUES ('install_update_path', ARRAY[name, fromvers, tovers, ext]);
    SELECT true $$;
CREATE FUNCTION pgtle.set_default_version(name text, version text)
  RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO pgtle.calls (fn, args) VALUES ('set_default_version', ARRAY[name, version]);
    SELECT true $$;
`;

/** This package's sources, with two synthetic earlier releases so that there are update paths. */
function sourcesWithEarlierReleases(): BundleSources {
  const sources = packageSources();
  const name = (file: SqlFile) => file.name.replace(/\.sql$/, '');
  expect(sources.migrations.length).toBeGreaterThanOrEqual(3);
  return {
    ...sources,
    earlierReleases: [
      { version: '0.0.1', lastMigration: name(sources.migrations[0]!) },
      { version: '0.0.2', lastMigration: name(sources.migrations[1]!) },
    ],
  };
}

describe('pg_tle script', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
  });
  afterAll(async () => db?.drop());

  async function freshStandIn() {
    await db.pool.query('DROP SCHEMA IF EXISTS pgtle CASCADE');
    await db.pool.query(PGTLE_STAND_IN);
  }
  const calls = async () => (await db.pool.query<{ fn: string; args: string[] }>('SELECT fn, args FROM pgtle.calls ORDER BY id')).rows;

  it('registers byte for byte the extension bundle’s scripts, once', async () => {
    const sources = sourcesWithEarlierReleases();
    const files = new Map(extensionBundle(sources).map((file) => [file.name, file.content]));
    await freshStandIn();
    await db.pool.query(pgTleScript(sources));
    const recorded = await calls();
    expect(recorded.map((call) => call.fn)).toEqual(['install_extension', 'install_update_path', 'install_update_path', 'set_default_version']);
    const [install, update1, update2, setDefault] = recorded;
    expect(install!.args.slice(0, 2)).toEqual(['authdb', sources.version]);
    expect(install!.args[3] === files.get(`authdb--${sources.version}.sql`)).toBe(true);
    expect(update1!.args.slice(0, 3)).toEqual(['authdb', '0.0.1', sources.version]);
    expect(update1!.args[3] === files.get(`authdb--0.0.1--${sources.version}.sql`)).toBe(true);
    expect(update2!.args.slice(0, 3)).toEqual(['authdb', '0.0.2', sources.version]);
    expect(update2!.args[3] === files.get(`authdb--0.0.2--${sources.version}.sql`)).toBe(true);
    expect(setDefault!.args).toEqual(['authdb', sources.version]);

    await db.pool.query(pgTleScript(sources)); // again: already registered, nothing recorded
    expect(await calls()).toHaveLength(4);
  });

  it('adds update paths to an older registration without installing again', async () => {
    const sources = sourcesWithEarlierReleases();
    await freshStandIn();
    await db.pool.query("INSERT INTO pgtle.versions VALUES ('authdb', '0.0.2')");
    await db.pool.query(pgTleScript(sources));
    expect((await calls()).map((call) => call.fn)).toEqual(['install_update_path', 'install_update_path', 'set_default_version']);
  });

  it('the package’s pg_tle file carries the package’s extension script', async () => {
    const [tle] = bundleFiles('pg_tle');
    const install = bundleFiles('extension').find((file) => file.name === `authdb--${packageSources().version}.sql`)!;
    await freshStandIn();
    await db.pool.query(tle!.content);
    const recorded = await calls();
    expect(recorded[0]!.fn).toBe('install_extension');
    expect(recorded[0]!.args[3] === install.content).toBe(true);
    expect(await pgError(db.pool.query('SELECT 1 FROM auth.installation'))).toMatchObject({ code: '42P01' });
  });
});

describe('quoting and releases', () => {
  it('dollarQuote picks a tag that cannot end the body early', () => {
    expect(dollarQuote('SELECT 1', 'x')).toBe('$x$SELECT 1$x$');
    expect(dollarQuote('a $x$ b', 'x')).toBe('$x_1$a $x$ b$x_1$');
    expect(dollarQuote('ends with $x', 'x')).toBe('$x_1$ends with $x$x_1$');
  });

  it('sql/releases.json: earlier releases name their last migration, the last one is package.json’s version', () => {
    const migrations = ['0001_a', '0002_b', '0003_c'].map((name) => ({ name: `${name}.sql`, sql: '' }));
    expect(parseReleases('[{"version":"0.1.0","lastMigration":"0001_a"},{"version":"0.2.0"}]', '0.2.0', migrations)).toEqual([
      { version: '0.1.0', lastMigration: '0001_a' },
    ]);
    expect(() => parseReleases('[{"version":"0.1.0"}]', '0.2.0', migrations)).toThrow(/last release is 0.1.0, but package.json says 0.2.0/);
    expect(() => parseReleases('[{"version":"0.1.0","lastMigration":"0002_b"}]', '0.1.0', migrations)).toThrow(/newest migration is 0003_c/);
    expect(() => parseReleases('[{"version":"0.1.0"},{"version":"0.2.0"}]', '0.2.0', migrations)).toThrow(/0.1.0 names no existing migration/);
    expect(() =>
      parseReleases('[{"version":"0.1.0","lastMigration":"0002_b"},{"version":"0.1.5","lastMigration":"0001_a"},{"version":"0.2.0"}]', '0.2.0', migrations),
    ).toThrow(/newer migration/);
    expect(() => parseReleases('[{"version":"1--2"}]', '1--2', migrations)).toThrow(/invalid version name/);
    expect(parseReleases(readFileSync(join(packageRoot(), 'sql', 'releases.json'), 'utf8'), packageSources().version, packageSources().migrations)).toEqual([
      { version: '0.1.0', lastMigration: '0005_provider_sync' },
    ]);
  });
});

describe('authdb bundle (CLI)', () => {
  it('writes the extension files and reports them as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authdb-bundle-cli-'));
    try {
      const result = jsonOutput<{ files: { name: string }[] }>(await authdb(['--json', 'bundle', '--format', 'extension', '--out', dir]));
      const version = packageSources().version;
      const names = ['authdb.control', `authdb--${version}.sql`, `authdb--0.1.0--${version}.sql`];
      expect(readdirSync(dir).sort()).toEqual([...names].sort());
      expect(result.files.map((file) => file.name)).toEqual(names);
      expect(readFileSync(join(dir, 'authdb.control'), 'utf8')).toContain(`default_version = '${version}'`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints a single-file format to stdout, and fails with one line for a multi-file one', async () => {
    expect((await authdb(['bundle', '--format', 'sql', '--out', '-'])).stdout).toMatch(/^-- authdb .*\nDO \$authdb_install\$/s);
    const multi = await authdb(['bundle', '--format', 'extension', '--out', '-']);
    expectOneLineError(multi, 1, /^authdb: --out - needs a single-file format; extension writes 3 files\n$/);
  });
});
