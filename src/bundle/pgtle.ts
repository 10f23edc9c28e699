// `authdb bundle --format pg_tle`: one script that registers the extension bundle's scripts with
// pg_tle (Trusted Language Extensions), for managed Postgres where the extension directory is out
// of reach. The text handed to pg_tle is byte for byte the extension bundle's files.
import { dollarQuote, literal } from './quote.js';
import { EXTENSION_COMMENT, EXTENSION_NAME, installScript, updateScript } from './extension.js';
import type { BundleSources } from './releases.js';
import { GENERATED_NOTE } from './scripts.js';

// pg_tle wraps the scripts in its own dollar quotes, whose tags start with `_pgtle_`.
const PGTLE_TAG_PREFIX = '$_pgtle_';

export function pgTleScript(sources: BundleSources): string {
  const name = literal(EXTENSION_NAME);
  const version = literal(sources.version);
  const install = installScript(sources);
  const updates = sources.earlierReleases.map((release) => ({ from: release.version, sql: updateScript(sources, release) }));
  for (const sql of [install, ...updates.map((update) => update.sql)]) {
    if (sql.includes(PGTLE_TAG_PREFIX)) throw new Error(`the SQL contains ${PGTLE_TAG_PREFIX}, which pg_tle reserves`);
  }
  const updateCalls = updates.map(
    (update) => `  PERFORM pgtle.install_update_path(${name}, ${literal(update.from)}, ${version}, ${dollarQuote(update.sql, 'authdb_update')});\n`,
  );
  const body = `
BEGIN
  -- docs/security.md §9: nothing another login created resolves ahead of the catalog here.
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
  IF EXISTS (SELECT 1 FROM pgtle.available_extension_versions() AS v WHERE v.name = ${name} AND v.version = ${version}) THEN
    RAISE NOTICE 'authdb ${sources.version} is already registered with pg_tle';
    RETURN;
  END IF;
  -- A first registration installs the full script; a newer package adds its update paths to an
  -- existing registration (pg_tle refuses a second install_extension for the same name).
  IF NOT EXISTS (SELECT 1 FROM pgtle.available_extensions() AS e WHERE e.name = ${name}) THEN
    PERFORM pgtle.install_extension(${name}, ${version}, ${literal(EXTENSION_COMMENT)}, ${dollarQuote(install, 'authdb_install')});
  END IF;
${updateCalls.join('')}  PERFORM pgtle.set_default_version(${name}, ${version});
END
`;
  return `-- authdb ${sources.version} for pg_tle: registers the extension; then run CREATE EXTENSION authdb
-- (or ALTER EXTENSION authdb UPDATE) in each database. Run as a member of pgtle_admin, in a
-- database where CREATE EXTENSION pg_tle has been run. Re-running it is a no-op.
${GENERATED_NOTE}
DO ${dollarQuote(body, 'authdb_pgtle')};
`;
}
