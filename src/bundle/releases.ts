// Which released versions of authdb exist and which migrations each one contains
// (sql/releases.json), and the SQL a bundle is built from.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SCHEMA } from '../schema.js';
import { functionFiles, migrationFiles, packageRoot, packageVersion, type SqlFile } from '../sources.js';

/** A released version and the newest migration it contains. */
export interface Release {
  version: string;
  lastMigration: string;
}

/** Everything a bundle is generated from. */
export interface BundleSources {
  /** The version being built: the package's. It contains every migration in `migrations`. */
  version: string;
  /** Versioned migrations, oldest first (whole files; bundles use their Up parts). */
  migrations: SqlFile[];
  /** The current function set (sql/functions/*.sql), in file order. */
  functions: SqlFile[];
  /** Earlier releases, oldest first, that can be upgraded to `version`. */
  earlierReleases: Release[];
  /** The schema the bundle installs into (default `auth`); `migrations` and `functions` are qualified for it. */
  schema?: string;
}

export const releasesFile = (): string => join(packageRoot(), 'sql', 'releases.json');

export const migrationName = (file: SqlFile): string => file.name.replace(/\.sql$/, '');

/** Extension version names become file names (authdb--A--B.sql): no `--`, no leading or trailing `-`. */
export function checkVersionName(version: string): void {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(version) || version.includes('--') || version.endsWith('-')) {
    throw new Error(`invalid version name ${JSON.stringify(version)}: use letters, digits, '.', '_', '+' and single '-'`);
  }
}

/**
 * Reads sql/releases.json: an array, oldest first, of `{ "version", "lastMigration" }`. Every entry
 * but the last names the newest migration that release shipped; the last entry is the version in
 * package.json, which contains every migration in sql/migrations (its lastMigration may be left out
 * while it is being developed; when given, it must be the newest migration file).
 */
export function parseReleases(json: string, version: string, migrations: SqlFile[]): Release[] {
  const entries = JSON.parse(json) as unknown;
  if (!Array.isArray(entries) || entries.length === 0) throw new Error('sql/releases.json: expected a non-empty array');
  const names = migrations.map(migrationName);
  const newest = names.at(-1);
  let previousIndex = -1;
  const earlier: Release[] = [];
  entries.forEach((entry: { version?: unknown; lastMigration?: unknown }, index) => {
    if (typeof entry?.version !== 'string') throw new Error(`sql/releases.json: entry ${index} has no version`);
    checkVersionName(entry.version);
    const isCurrent = index === entries.length - 1;
    if (isCurrent) {
      if (entry.version !== version) {
        throw new Error(`sql/releases.json: the last release is ${entry.version}, but package.json says ${version}`);
      }
      if (entry.lastMigration !== undefined && entry.lastMigration !== newest) {
        throw new Error(`sql/releases.json: ${version} ends at ${String(entry.lastMigration)}, but the newest migration is ${newest}`);
      }
      return;
    }
    const at = typeof entry.lastMigration === 'string' ? names.indexOf(entry.lastMigration) : -1;
    if (at < 0) throw new Error(`sql/releases.json: ${entry.version} names no existing migration as lastMigration`);
    if (at <= previousIndex && previousIndex >= 0) {
      throw new Error(`sql/releases.json: ${entry.version} must end at a newer migration than the release before it`);
    }
    previousIndex = at;
    earlier.push({ version: entry.version, lastMigration: entry.lastMigration as string });
  });
  return earlier;
}

/** The sources of this package (sql/migrations, sql/functions, package.json, sql/releases.json) for `schema`. */
export function packageSources(schema: string = DEFAULT_SCHEMA): BundleSources {
  const version = packageVersion();
  checkVersionName(version);
  const migrations = migrationFiles(schema);
  return {
    version,
    migrations,
    functions: functionFiles(schema),
    earlierReleases: parseReleases(readFileSync(releasesFile(), 'utf8'), version, migrations),
    schema,
  };
}

/** The migrations a database at `release` has not run yet (all of them for a fresh install). */
export function migrationsAfter(sources: BundleSources, release?: Release): SqlFile[] {
  if (!release) return sources.migrations;
  const at = sources.migrations.findIndex((file) => migrationName(file) === release.lastMigration);
  if (at < 0) throw new Error(`release ${release.version}: no migration ${release.lastMigration}`);
  return sources.migrations.slice(at + 1);
}
