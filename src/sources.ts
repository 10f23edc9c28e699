// The SQL that authdb installs, read from the package's `sql/` folder: versioned migrations in
// `sql/migrations/`, and the current definition of every function in `sql/functions/`.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

function readSqlFolder(dir: string): SqlFile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), 'utf8') }));
}

export const migrationFiles = (): SqlFile[] => readSqlFolder(migrationsDir());
export const functionFiles = (): SqlFile[] => readSqlFolder(functionsDir());

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
