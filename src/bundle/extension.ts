// `authdb bundle --format extension`: a control file, a full install script for the current
// version, and an update script from every earlier release straight to the current version.
// Scripts run inside CREATE/ALTER EXTENSION: one transaction, no psql `\` commands, and
// check_function_bodies is off (Postgres turns it off for extension scripts), so the order between
// function files does not matter, as with `authdb migrate`.
import { qualify } from '../schema.js';
import { functionsDigest, recordInstallation } from '../sources.js';
import { literal } from './quote.js';
import { migrationsAfter, type BundleSources, type Release } from './releases.js';
import { functionSetSections, GENERATED_NOTE, migrationSection, PIN_SEARCH_PATH } from './scripts.js';

export const EXTENSION_NAME = 'authdb';
export const EXTENSION_COMMENT = 'JWT verification inside Postgres and a sealed identity for row-level security';

export interface BundleFile {
  name: string;
  content: string;
}

/**
 * Tables whose rows the install script itself writes (static data, the installation record, the
 * sealing secret, generated per install). Every other auth table holds data the users put there
 * (providers, keys, their precomputed tables) and is marked for pg_dump.
 */
export const SCRIPT_OWNED_TABLES = ['algorithms', 'installation', 'seal_secret'] as const;

/** Refuses to install over an auth schema made by `authdb migrate` or by anything else. */
const INSTALL_GUARD = `DO $authdb_guard$
BEGIN
  IF pg_catalog.to_regclass('auth.installation') IS NOT NULL THEN
    RAISE EXCEPTION 'auth schema already installed by authdb migrate (or the authdb SQL file)'
      USING ERRCODE = 'duplicate_schema',
            HINT = 'Keep upgrading it with authdb migrate; CREATE EXTENSION authdb needs a database without the auth schema.';
  ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'auth') THEN
    RAISE EXCEPTION 'schema auth already exists and was not created by authdb'
      USING ERRCODE = 'duplicate_schema',
            HINT = 'authdb installs into its own schema auth; drop or rename the existing one first.';
  END IF;
END
$authdb_guard$;
`;

/** Records the version, and marks users' tables (and their identity sequences) for pg_dump. */
function finish(sources: BundleSources): string {
  const skipped = SCRIPT_OWNED_TABLES.map(literal).join(', ');
  return `-- ==== finish ====
${recordInstallation(sources.version, functionsDigest(sources.functions))}

-- Rows of extension tables are not dumped by pg_dump unless marked: mark every table that holds
-- the users' data, and the identity sequences of those tables, so a dump and restore keeps
-- providers and keys and their ids keep counting from where they were.
DO $authdb_config_dump$
DECLARE
  v_relation regclass;
BEGIN
  FOR v_relation IN
    SELECT c.oid::regclass
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'auth'::regnamespace
       AND c.relkind = 'r'
       AND c.relname <> ALL (ARRAY[${skipped}])
    UNION ALL
    SELECT s.oid::regclass
      FROM pg_catalog.pg_class s
      JOIN pg_catalog.pg_depend d
        ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.oid
       AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
      JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
     WHERE s.relnamespace = 'auth'::regnamespace
       AND s.relkind = 'S'
       AND t.relname <> ALL (ARRAY[${skipped}])
  LOOP
    PERFORM pg_catalog.pg_extension_config_dump(v_relation, '');
  END LOOP;
END
$authdb_config_dump$;
`;
}

function header(title: string): string {
  return `-- ${title}\n${GENERATED_NOTE}\n`;
}

/** The full install script for `sources.version`. */
export function installScript(sources: BundleSources): string {
  const script = [
    header(`authdb ${sources.version}: install script for CREATE EXTENSION authdb.`),
    PIN_SEARCH_PATH,
    INSTALL_GUARD,
    ...sources.migrations.map(migrationSection),
    ...functionSetSections(sources.functions),
    finish(sources),
  ].join('\n');
  return qualify(script, sources.schema);
}

/** The update script from `release` to `sources.version`: the migrations it lacks, then the current function set. */
export function updateScript(sources: BundleSources, release: Release): string {
  const script = [
    header(`authdb ${release.version} -> ${sources.version}: update script for ALTER EXTENSION authdb UPDATE.`),
    PIN_SEARCH_PATH,
    ...migrationsAfter(sources, release).map(migrationSection),
    // Also drops the functions of the older release that this version no longer defines.
    ...functionSetSections(sources.functions),
    finish(sources),
  ].join('\n');
  return qualify(script, sources.schema);
}

export function controlFile(sources: BundleSources): string {
  return qualify(`# authdb extension control file. ${GENERATED_NOTE.slice(3)}
comment = ${literal(EXTENSION_COMMENT)}
default_version = ${literal(sources.version)}
# The script creates schema auth itself (so the schema belongs to the extension) and refers to it
# by name: not relocatable, and no \`schema\` (Postgres would create auth before the script runs).
relocatable = false
# The script creates the roles authenticated and anonymous and grants them to the installing role.
superuser = true
trusted = false
`, sources.schema);
}

export const installFileName = (version: string): string => `${EXTENSION_NAME}--${version}.sql`;
export const updateFileName = (from: string, to: string): string => `${EXTENSION_NAME}--${from}--${to}.sql`;

export function extensionBundle(sources: BundleSources): BundleFile[] {
  return [
    { name: `${EXTENSION_NAME}.control`, content: controlFile(sources) },
    { name: installFileName(sources.version), content: installScript(sources) },
    ...sources.earlierReleases.map((release) => ({
      name: updateFileName(release.version, sources.version),
      content: updateScript(sources, release),
    })),
  ];
}
