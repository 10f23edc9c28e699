// The SQL that authdb installs, read from the package's `sql/` folder: versioned migrations in
// `sql/migrations/`, and the current definition of every function in `sql/functions/`.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { literal } from './bundle/quote.js';
import { checkQualifiable, DEFAULT_SCHEMA, qualify } from './schema.js';

/** The package's root folder (holds package.json), found from this module's location. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('authdb: cannot find the package root');
    dir = parent;
  }
  return dir;
}

export const migrationsDir = (): string => join(packageRoot(), 'sql', 'migrations');
export const functionsDir = (): string => join(packageRoot(), 'sql', 'functions');

export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

export interface SqlFile {
  name: string;
  sql: string;
}

/**
 * The .sql files of a folder, in name order, for `schema`: the sources are written with `auth.`,
 * and each file is checked (a form `qualify` would miss fails loudly) and then qualified.
 */
function readSqlFolder(dir: string, schema: string): SqlFile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name), 'utf8');
      checkQualifiable(sql, name);
      return { name, sql: qualify(sql, schema) };
    });
}

export const migrationFiles = (schema: string = DEFAULT_SCHEMA): SqlFile[] => readSqlFolder(migrationsDir(), schema);
export const functionFiles = (schema: string = DEFAULT_SCHEMA): SqlFile[] => readSqlFolder(functionsDir(), schema);

/** A digest of the function set, recorded in the database to tell whether it is current. */
export function functionsDigest(files: SqlFile[] = functionFiles()): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(file.name).update('\0').update(file.sql).update('\0');
  return hash.digest('hex');
}

/** Splits a node-pg-migrate SQL migration into its Up and Down parts. */
export function splitMigration(sql: string): { up: string; down: string } {
  const downAt = sql.indexOf('-- Down Migration');
  const upPart = downAt >= 0 ? sql.slice(0, downAt) : sql;
  return {
    up: upPart.replace('-- Up Migration', '').trim(),
    down: downAt >= 0 ? sql.slice(downAt + '-- Down Migration'.length).trim() : '',
  };
}

/**
 * The routines in the auth schema that the function set being installed did not (re)declare.
 * CREATE OR REPLACE FUNCTION writes a new pg_proc row, so each routine of the current set carries
 * the installing transaction's xid as its xmin; each function lives in sql/functions/ (a migration
 * that needs one to exist, as 0013 does for its trigger, creates a stub the set then replaces), so
 * any other routine was left behind by an older release (a stale
 * SECURITY DEFINER function left callable is a hole: docs/security.md §4). Run in the same
 * transaction as the set, before 99_privileges.sql (whose GRANT/REVOKE rewrites every row).
 */
export const STALE_ROUTINES_QUERY = `SELECT p.oid::pg_catalog.regprocedure AS routine, p.prokind
  FROM pg_catalog.pg_proc p
 WHERE p.pronamespace = 'auth'::pg_catalog.regnamespace
   AND NOT (p.xmin = pg_catalog.pg_current_xact_id()::pg_catalog.xid)
 ORDER BY 1`;

/** Drops the routines STALE_ROUTINES_QUERY finds; fails (no CASCADE) when a user's object uses one. */
export const DROP_STALE_ROUTINES: SqlFile = {
  name: 'drop-stale-routines',
  sql: `DO $authdb_stale$
DECLARE
  v_stale record;
BEGIN
  FOR v_stale IN ${STALE_ROUTINES_QUERY.replace(/\n/g, '\n    ')}
  LOOP
    EXECUTE pg_catalog.format('DROP %s %s', CASE v_stale.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, v_stale.routine);
  END LOOP;
END
$authdb_stale$;`,
};

/**
 * The statements that install the function set, in order: every file of sql/functions/, with the
 * drop of stale routines just before the privileges file (99_*), which only grants and revokes.
 * `authdb migrate`, the SQL file and the extension scripts all install the set this way.
 */
export function functionSetSteps(files: SqlFile[] = functionFiles()): SqlFile[] {
  const at = files.findIndex((file) => file.name.startsWith('99_'));
  const cut = at < 0 ? files.length : at;
  return [...files.slice(0, cut), DROP_STALE_ROUTINES, ...files.slice(cut)];
}

/**
 * Records what is installed, as the last step of every install path (migrate, SQL file, extension
 * scripts): the package version and the digest of the function set.
 */
export function recordInstallation(version: string, digest: string): string {
  return `UPDATE auth.installation
   SET version = ${literal(version)}, functions_sha256 = ${literal(digest)}, updated_at = pg_catalog.now()
 WHERE version IS DISTINCT FROM ${literal(version)} OR functions_sha256 IS DISTINCT FROM ${literal(digest)};`;
}
