// `authdb doctor`: read-only checks of an installation, each finding with the SQL (or command) that
// fixes it. One file per family of checks in src/doctor/; docs/rls.md lists every finding.
// docs/security.md §9: it runs on the DBA's connection, so search_path is pinned (pg_catalog,
// pg_temp) and every call is schema-qualified anyway: nothing another login created runs here.
import type pg from 'pg';
import { ADMIN_SEARCH_PATH } from './connection.js';
import { schemaOf } from './schema.js';
import { checkAuthGrants, checkSecretReaders, checkSessionScope } from './doctor/grants.js';
import { checkDefinerFunctions } from './doctor/functions.js';
import type { DoctorContext, DoctorFinding } from './doctor/finding.js';
import { checkInstall } from './doctor/install.js';
import { checkLoginRoles } from './doctor/logins.js';
import { checkPolicies } from './doctor/policies.js';
import { checkProviders } from './doctor/providers.js';
import { checkTables, checkViews } from './doctor/rls.js';
import { checkAuthRoles } from './doctor/roles.js';
import { migrateStatus } from './migrate.js';

export type { CheckFamily, DoctorFinding, Severity } from './doctor/finding.js';
export { perRowAuthCalls } from './doctor/policies.js';

export interface DoctorReport {
  /** False when any finding is a problem. */
  ok: boolean;
  installedVersion: string | null;
  packageVersion: string;
  findings: DoctorFinding[];
  /** Names of the checks that ran (some are skipped when what they check is absent). */
  checked: string[];
  skipped: { check: string; reason: string }[];
}

export interface DoctorOptions {
  /** Login roles the application connects as (--app-role): checked strictly, superusers included. */
  appRoles?: string[];
}


/**
 * Runs every check on `client`. Its search_path is pinned for the run and put back afterwards.
 */
export async function runDoctor(client: pg.ClientBase, options: DoctorOptions = {}): Promise<DoctorReport> {
  const previous = await client.query<{ path: string }>("SELECT pg_catalog.current_setting('search_path') AS path");
  await client.query("SELECT pg_catalog.set_config('search_path', $1, false)", [ADMIN_SEARCH_PATH]);
  try {
    return await diagnose(client, options);
  } finally {
    await client.query("SELECT pg_catalog.set_config('search_path', $1, false)", [previous.rows[0]!.path]);
  }
}

async function diagnose(client: pg.ClientBase, options: DoctorOptions): Promise<DoctorReport> {
  // The schema authdb is installed in: the one the client addresses (the CLI finds it by itself).
  const AUTH_SCHEMA = schemaOf(client);
  const server = await client.query<{ num: string; schema: string }>(
    "SELECT pg_catalog.current_setting('server_version_num') AS num, pg_catalog.quote_ident($1) AS schema",
    [AUTH_SCHEMA],
  );
  const context: DoctorContext = {
    client,
    authSchema: AUTH_SCHEMA,
    authSchemaSql: server.rows[0]!.schema,
    serverVersion: Number(server.rows[0]!.num),
    appRoles: options.appRoles ?? [],
    findings: [],
    checked: [],
    skipped: [],
  };
  const status = await migrateStatus(client).catch((error: unknown) => {
    if ((error as { code?: string }).code !== '42501') throw error;
    throw new Error(`doctor reads authdb's bookkeeping and catalogs: run it as the auth schema owner or a superuser, and name the application's login with --app-role (${(error as Error).message})`);
  });
  if (checkInstall(context, status)) {
    await checkAuthRoles(context);
    await checkLoginRoles(context);
    await checkProviders(context);
    await checkTables(context);
    await checkViews(context);
    await checkPolicies(context);
    await checkDefinerFunctions(context);
    await checkAuthGrants(context);
    await checkSecretReaders(context);
    await checkSessionScope(context);
  }
  return {
    ok: !context.findings.some((finding) => finding.severity === 'problem'),
    installedVersion: status.installedVersion,
    packageVersion: status.packageVersion,
    findings: context.findings,
    checked: context.checked,
    skipped: context.skipped,
  };
}
