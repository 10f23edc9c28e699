// `authdb bundle --format sql`: one idempotent SQL file for psql, Flyway, Sqitch or any runner.
// It is a single DO block (so it is atomic even under psql's autocommit) that does what
// `authdb migrate` does: under the same advisory lock, it runs each migration not yet recorded in
// public.authdb_migrations (node-pg-migrate's table, same layout) and records it there, then
// reinstalls the function set when its digest differs. A database installed this way is a
// migrate-managed database: `authdb migrate` sees every migration as applied, and can take over.
// Like `authdb migrate` (docs/security.md §9), it pins search_path for its own transaction and
// refuses a bookkeeping table that someone else could have planted code in.
import { DEFAULT_LOCK_TIMEOUT_SECONDS, ledgerHint, ledgerName, ledgerProblemQuery, LOCK_HOLDERS_QUERY, MIGRATE_LOCK_KEY, MIGRATIONS_SCHEMA, migrationsTable } from '../migrate.js';
import { DEFAULT_SCHEMA, qualify } from '../schema.js';
import { functionsDigest, recordInstallation, splitMigration } from '../sources.js';
import { EXTENSION_NAME } from './extension.js';
import { dollarQuote, literal } from './quote.js';
import { migrationName, type BundleSources } from './releases.js';
import { functionSetSections, GENERATED_NOTE } from './scripts.js';

export function sqlFileScript(sources: BundleSources): string {
  const schema = sources.schema ?? DEFAULT_SCHEMA;
  const TABLE = `"${MIGRATIONS_SCHEMA}"."${migrationsTable(schema)}"`;
  const names = sources.migrations.map(migrationName);
  const digest = literal(functionsDigest(sources.functions));
  const steps = sources.migrations.map((file) => {
    const name = literal(migrationName(file));
    return `
  -- migration ${file.name}
  IF NOT EXISTS (SELECT 1 FROM ${TABLE} WHERE name = ${name}) THEN
    EXECUTE ${dollarQuote(`\n${splitMigration(file.sql).up}\n`, 'authdb_migration')};
    INSERT INTO ${TABLE} (name, run_on) VALUES (${name}, pg_catalog.now());
  END IF;
`;
  });
  const functions = functionSetSections(sources.functions).join('\n');
  const body = `
DECLARE
  v_known text[];
  v_applied text[];
  v_problem text;
  v_lock_timeout text;
  v_holders text;
BEGIN
  -- Nothing another login created (in public, say) resolves ahead of the catalog in this statement.
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
  v_known := ARRAY[${names.map(literal).join(', ')}]::text[];
  -- The lock authdb migrate takes: a concurrent migrate or run of this file waits, but not forever
  -- (any login can take an advisory lock): the session's lock_timeout when it has one, else
  -- ${DEFAULT_LOCK_TIMEOUT_SECONDS} s, as authdb migrate --lock-timeout.
  v_lock_timeout := pg_catalog.current_setting('lock_timeout');
  IF v_lock_timeout IN ('0', '0ms') THEN
    PERFORM pg_catalog.set_config('lock_timeout', '${DEFAULT_LOCK_TIMEOUT_SECONDS}s', true);
  END IF;
  BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(${MIGRATE_LOCK_KEY.toString()});
  EXCEPTION WHEN lock_not_available THEN
    SELECT pg_catalog.string_agg(h.pid::text, ', ') INTO v_holders FROM (${LOCK_HOLDERS_QUERY.replace(/\n/g, '\n      ')}) AS h;
    RAISE EXCEPTION 'gave up after lock_timeout % waiting for the authdb migrate lock held by pid %',
                    pg_catalog.current_setting('lock_timeout'), coalesce(v_holders, '(none left)')
      USING ERRCODE = 'lock_not_available',
            HINT = 'wait for it to finish, or end it with SELECT pg_catalog.pg_terminate_backend(PID)';
  END;
  PERFORM pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = ${literal(EXTENSION_NAME)}) THEN
    RAISE EXCEPTION 'authdb is installed as an extension in this database'
      USING HINT = 'Upgrade it with ALTER EXTENSION authdb UPDATE, not with the SQL file.';
  END IF;
  CREATE TABLE IF NOT EXISTS ${TABLE} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);
  -- The check authdb migrate makes: a table someone else owns, or one with triggers, rules,
  -- policies or inheritance, could run their code with this script's rights.
  SELECT q.problem INTO v_problem FROM (${ledgerProblemQuery(schema).replace(/\n/g, '\n    ')}) AS q;
  IF v_problem IS NOT NULL THEN
    RAISE EXCEPTION 'refusing to use ${ledgerName(schema)}: it %', v_problem
      USING ERRCODE = 'insufficient_privilege', HINT = ${literal(ledgerHint(schema))};
  END IF;
  SELECT coalesce(pg_catalog.array_agg(name::text ORDER BY run_on, id), '{}') INTO v_applied FROM ${TABLE};
  IF v_applied <> v_known[1:pg_catalog.cardinality(v_applied)] THEN
    RAISE EXCEPTION 'this database has authdb migrations this SQL file (authdb ${sources.version}) does not have'
      USING DETAIL = pg_catalog.format('applied: %s; this file: %s', v_applied, v_known),
            HINT = 'Use the SQL file of the installed version or newer, or authdb migrate.';
  END IF;
${steps.join('')}
  -- The function set, when it differs from the installed one (as authdb migrate does); the
  -- routines of an older release that it no longer defines are dropped with it.
  IF (SELECT functions_sha256 FROM auth.installation) IS DISTINCT FROM ${digest} THEN
    PERFORM pg_catalog.set_config('check_function_bodies', 'off', true);
    EXECUTE ${dollarQuote(`\n${functions}\n`, 'authdb_functions')};
  END IF;
  ${recordInstallation(sources.version, functionsDigest(sources.functions)).replace(/\n/g, '\n  ')}
END
`;
  return qualify(`-- authdb ${sources.version}: the whole install or upgrade as one idempotent SQL statement.
-- Run it with psql (psql -v ON_ERROR_STOP=1 -f authdb.sql), Flyway (as a repeatable migration)
-- or Sqitch; running it again is a no-op. The database it leaves is managed by authdb migrate.
${GENERATED_NOTE}
DO ${dollarQuote(body, 'authdb_install')};
`, schema);
}
