// `authdb doctor`: read-only checks of an installation, each finding with the fix to apply.
// Problems (exit non-zero): things that are broken or unsafe. Warnings: things that work but
// cost (per-row identity calls) or will soon break (a provider about to go stale).
import type pg from 'pg';
import { migrateStatus } from './migrate.js';

export type Severity = 'problem' | 'warning';

export interface DoctorFinding {
  check: 'install' | 'version' | 'migrations' | 'functions' | 'providers' | 'rls' | 'policies' | 'grants' | 'roles';
  severity: Severity;
  message: string;
  fix: string;
  /** What the finding is about (a provider, a table, a policy), when there is one. */
  subject?: string;
}

export interface DoctorReport {
  ok: boolean;
  installedVersion: string | null;
  packageVersion: string;
  findings: DoctorFinding[];
  /** Names of the checks that ran (some are skipped when what they check is absent). */
  checked: string[];
  skipped: { check: string; reason: string }[];
}

const AUTH_ROLES = ['authenticated', 'anonymous'] as const;
/** How long past its planned refresh a provider may go before it counts as stale. */
const STALE_GRACE = '1 hour';

export async function runDoctor(client: pg.ClientBase): Promise<DoctorReport> {
  const findings: DoctorFinding[] = [];
  const checked: string[] = [];
  const skipped: { check: string; reason: string }[] = [];
  const status = await migrateStatus(client);
  const report = (): DoctorReport => ({
    ok: !findings.some((finding) => finding.severity === 'problem'),
    installedVersion: status.installedVersion,
    packageVersion: status.packageVersion,
    findings,
    checked,
    skipped,
  });

  checked.push('install');
  if (status.installedVersion === null) {
    findings.push({ check: 'install', severity: 'problem', message: 'authdb is not installed in this database', fix: 'run `authdb migrate`' });
    return report();
  }
  checked.push('version', 'migrations', 'functions');
  if (status.installedVersion !== status.packageVersion) {
    findings.push({
      check: 'version',
      severity: 'problem',
      message: `installed schema is ${status.installedVersion}, this authdb is ${status.packageVersion}`,
      fix: 'run `authdb migrate` with the authdb version your application uses',
    });
  }
  if (status.pending.length > 0) {
    findings.push({
      check: 'migrations',
      severity: 'problem',
      message: `${status.pending.length} pending migration(s): ${status.pending.join(', ')}`,
      fix: 'run `authdb migrate`',
    });
  }
  if (!status.functionsCurrent) {
    findings.push({ check: 'functions', severity: 'problem', message: 'the installed auth functions differ from this package', fix: 'run `authdb migrate`' });
  }

  await checkRoles(client, findings, checked);
  await checkProviders(client, findings, checked, skipped);
  await checkRls(client, findings, checked);
  await checkPolicies(client, findings, checked);
  await checkGrants(client, findings, checked);
  return report();
}

async function checkRoles(client: pg.ClientBase, findings: DoctorFinding[], checked: string[]): Promise<void> {
  checked.push('roles');
  const { rows } = await client.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }>(
    'SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = ANY($1)',
    [AUTH_ROLES],
  );
  for (const role of AUTH_ROLES) {
    const row = rows.find((r) => r.rolname === role);
    if (!row) {
      findings.push({ check: 'roles', severity: 'problem', subject: role, message: `role ${role} does not exist`, fix: 'run `authdb migrate` (it creates the roles)' });
      continue;
    }
    if (row.rolsuper || row.rolbypassrls) {
      findings.push({
        check: 'roles',
        severity: 'problem',
        subject: role,
        message: `role ${role} bypasses row-level security (${row.rolsuper ? 'SUPERUSER' : 'BYPASSRLS'})`,
        fix: `ALTER ROLE ${role} NOSUPERUSER NOBYPASSRLS;`,
      });
    }
    if (row.rolcanlogin) {
      findings.push({
        check: 'roles',
        severity: 'warning',
        subject: role,
        message: `role ${role} can log in; it is meant to be entered with SET ROLE only`,
        fix: `ALTER ROLE ${role} NOLOGIN;`,
      });
    }
  }
}

async function checkProviders(
  client: pg.ClientBase,
  findings: DoctorFinding[],
  checked: string[],
  skipped: { check: string; reason: string }[],
): Promise<void> {
  checked.push('providers');
  const keys = await client.query<{ name: string; active: number }>(
    `SELECT p.name, count(k.id) FILTER (WHERE k.status = 'active' OR (k.status = 'retired' AND k.verify_until > pg_catalog.now()))::int AS active
       FROM auth.providers AS p LEFT JOIN auth.keys AS k ON k.provider_id = p.id
      GROUP BY p.name ORDER BY p.name`,
  );
  if (keys.rowCount === 0) {
    findings.push({
      check: 'providers',
      severity: 'warning',
      message: 'no identity provider is registered, so no token can verify',
      fix: 'run `authdb provider add NAME --jwks-url URL` (or `authdb keys add` for static keys)',
    });
  }
  for (const row of keys.rows) {
    if (row.active === 0) {
      findings.push({
        check: 'providers',
        severity: 'problem',
        subject: row.name,
        message: `provider ${row.name} has no usable key: none of its tokens can verify`,
        fix: `run \`authdb sync-jwks --provider ${row.name}\` or \`authdb keys add --provider ${row.name} --file JWKS.json\``,
      });
    }
  }
  // Sync health columns come with a later migration; without them there is nothing more to check.
  const columns = await client.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
      WHERE table_schema = 'auth' AND table_name = 'providers' AND column_name IN ('last_synced_at', 'last_error', 'last_error_at', 'next_refresh_at')`,
  );
  if (columns.rowCount !== 4) {
    skipped.push({ check: 'provider sync health', reason: 'this schema records no sync state (auth.providers has no last_synced_at, last_error, next_refresh_at)' });
    return;
  }
  // A failure counts until a later success (last_error may be kept for the record).
  const sync = await client.query<{ name: string; last_error: string | null; last_synced_at: Date | null; stale: boolean }>(
    `SELECT name, last_synced_at,
            CASE WHEN last_error_at IS NULL OR last_synced_at IS NULL OR last_error_at >= last_synced_at
                 THEN last_error END AS last_error,
            (next_refresh_at IS NOT NULL AND next_refresh_at < pg_catalog.now() - $1::interval) AS stale
       FROM auth.providers WHERE jwks_url IS NOT NULL ORDER BY name`,
    [STALE_GRACE],
  );
  for (const row of sync.rows) {
    if (row.last_error) {
      findings.push({
        check: 'providers',
        severity: 'problem',
        subject: row.name,
        message: `provider ${row.name}: the last key sync failed: ${row.last_error.split('\n')[0]}`,
        fix: `check its JWKS URL, then run \`authdb sync-jwks --provider ${row.name}\``,
      });
    } else if (row.last_synced_at === null) {
      findings.push({
        check: 'providers',
        severity: 'warning',
        subject: row.name,
        message: `provider ${row.name} has never synced its JWKS`,
        fix: `run \`authdb sync-jwks --provider ${row.name}\``,
      });
    }
    if (row.stale) {
      findings.push({
        check: 'providers',
        severity: 'problem',
        subject: row.name,
        message: `provider ${row.name} is stale: its keys were due for a refresh more than ${STALE_GRACE} ago`,
        fix: 'schedule `authdb sync-jwks` (cron), or run `authdb sync-jwks --watch`',
      });
    }
  }
}

async function checkRls(client: pg.ClientBase, findings: DoctorFinding[], checked: string[]): Promise<void> {
  checked.push('rls');
  const noPolicy = await client.query<{ name: string }>(
    `SELECT c.oid::regclass::text AS name
       FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'auth') AND n.nspname NOT LIKE 'pg\\_%'
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy AS p WHERE p.polrelid = c.oid)
      ORDER BY 1`,
  );
  // Policies for an auth role on a table that role has no privilege on: "permission denied".
  const unusable = await client.query<{ name: string; role: string }>(
    `SELECT DISTINCT c.oid::regclass::text AS name, r.rolname AS role
       FROM pg_catalog.pg_policy AS p
       JOIN pg_catalog.pg_class AS c ON c.oid = p.polrelid
       JOIN pg_catalog.pg_roles AS r ON r.oid = ANY (p.polroles) AND r.rolname = ANY ($1)
      WHERE NOT pg_catalog.has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
      ORDER BY 1, 2`,
    [AUTH_ROLES],
  );
  for (const row of unusable.rows) {
    findings.push({
      check: 'rls',
      severity: 'warning',
      subject: row.name,
      message: `table ${row.name} has policies for ${row.role}, but ${row.role} has no privilege on it: its queries fail with "permission denied"`,
      fix: `GRANT SELECT, INSERT, UPDATE, DELETE ON ${row.name} TO ${row.role}; (only the commands you mean)`,
    });
  }
  for (const row of noPolicy.rows) {
    findings.push({
      check: 'rls',
      severity: 'problem',
      subject: row.name,
      message: `table ${row.name} has row-level security enabled but no policy: every non-owner sees no rows`,
      fix: `add a policy, e.g. SELECT auth.policy_owner('${row.name}', 'user_id');`,
    });
  }
  // Tables the auth roles can read or write while RLS is off: every user sees every row.
  const open = await client.query<{ name: string; roles: string }>(
    `SELECT c.oid::regclass::text AS name, string_agg(r.rolname, ', ' ORDER BY r.rolname) AS roles
       FROM pg_catalog.pg_class AS c
       JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
       CROSS JOIN (SELECT unnest($1::text[]) AS rolname) AS r
      WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'auth') AND n.nspname NOT LIKE 'pg\\_%'
        AND pg_catalog.has_schema_privilege(r.rolname, n.oid, 'USAGE')
        AND pg_catalog.has_table_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
      GROUP BY c.oid ORDER BY 1`,
    [AUTH_ROLES],
  );
  for (const row of open.rows) {
    findings.push({
      check: 'rls',
      severity: 'warning',
      subject: row.name,
      message: `${row.roles} can use table ${row.name}, which has row-level security off: every user sees every row`,
      fix: `enable RLS with a template, e.g. SELECT auth.policy_owner('${row.name}'); or REVOKE ALL ON ${row.name} FROM ${row.roles};`,
    });
  }
}

/** Positions of the auth.*() calls in a policy expression that Postgres evaluates once per row. */
export function perRowAuthCalls(expression: string, tableName: string): string[] {
  const calls: string[] = [];
  const callPattern = /\bauth\.([a-z_]+)\(/g;
  for (let match = callPattern.exec(expression); match; match = callPattern.exec(expression)) {
    if (!insideUncorrelatedSubselect(expression, match.index, tableName)) calls.push(`auth.${match[1]}()`);
  }
  return [...new Set(calls)];
}

/**
 * True when the innermost `( SELECT …)` around `position` has no FROM clause and does not refer to
 * the policy's table (pg_get_expr qualifies such outer references as `table.column`): Postgres then
 * runs it once per statement as an InitPlan. A correlated sub-select, like Drizzle's
 * `(select auth.user_id() = user_id)`, is a SubPlan run once per row.
 */
function insideUncorrelatedSubselect(expression: string, position: number, tableName: string): boolean {
  let depth = 0;
  for (let i = position - 1; i >= 0; i--) {
    const ch = expression[i];
    if (ch === ')') depth++;
    else if (ch === '(') {
      if (depth > 0) {
        depth--;
        continue;
      }
      if (!/^\(\s*SELECT\b/i.test(expression.slice(i, i + 12))) continue; // a plain parenthesis
      const end = matchingParen(expression, i);
      const body = expression.slice(i, end + 1);
      const escaped = tableName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const correlated = new RegExp(`(^|[^\\w"])("${escaped.replace(/"/g, '""')}"|${escaped})\\.`).test(body);
      return !/\bFROM\b/i.test(body) && !correlated;
    }
  }
  return false;
}

function matchingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  return text.length - 1;
}

async function checkPolicies(client: pg.ClientBase, findings: DoctorFinding[], checked: string[]): Promise<void> {
  checked.push('policies');
  const { rows } = await client.query<{ schemaname: string; tablename: string; policyname: string; qual: string | null; with_check: string | null }>(
    `SELECT schemaname, tablename, policyname, qual, with_check FROM pg_catalog.pg_policies
      WHERE coalesce(qual, '') LIKE '%auth.%' OR coalesce(with_check, '') LIKE '%auth.%'
      ORDER BY schemaname, tablename, policyname`,
  );
  for (const row of rows) {
    const calls = [...new Set([...perRowAuthCalls(row.qual ?? '', row.tablename), ...perRowAuthCalls(row.with_check ?? '', row.tablename)])];
    if (calls.length === 0) continue;
    const subject = `${row.schemaname}.${row.tablename}`;
    findings.push({
      check: 'policies',
      severity: 'warning',
      subject: `${subject}: ${row.policyname}`,
      message: `policy "${row.policyname}" on ${subject} calls ${calls.join(', ')} once per row (it verifies the identity seal on every row)`,
      fix: `wrap each call in its own sub-select: column = (select ${calls[0]}), or re-create it with an auth.policy_* template`,
    });
  }
}

async function checkGrants(client: pg.ClientBase, findings: DoctorFinding[], checked: string[]): Promise<void> {
  checked.push('grants');
  for (const role of AUTH_ROLES) {
    const exists = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [role]);
    if (exists.rowCount === 0) continue; // reported by the roles check
    const schema = await client.query<{ usage: boolean; create: boolean }>(
      `SELECT pg_catalog.has_schema_privilege($1, 'auth', 'USAGE') AS usage,
              pg_catalog.has_schema_privilege($1, 'auth', 'CREATE') AS create`,
      [role],
    );
    if (!schema.rows[0]!.usage) {
      findings.push({
        check: 'grants',
        severity: 'problem',
        subject: role,
        message: `${role} has no USAGE on schema auth: policies calling auth.user_id() fail for it`,
        fix: `GRANT USAGE ON SCHEMA auth TO ${role};`,
      });
    }
    if (schema.rows[0]!.create) {
      findings.push({
        check: 'grants',
        severity: 'problem',
        subject: role,
        message: `${role} can CREATE in schema auth: it could plant objects next to the auth code`,
        fix: `REVOKE CREATE ON SCHEMA auth FROM ${role}; REVOKE CREATE ON SCHEMA auth FROM PUBLIC;`,
      });
    }
    const tables = await client.query<{ name: string; privileges: string }>(
      `SELECT c.oid::regclass::text AS name,
              array_to_string(ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p
                                    WHERE pg_catalog.has_table_privilege($1, c.oid, p)), ', ') AS privileges
         FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
        ORDER BY 1`,
      [role],
    );
    for (const row of tables.rows) {
      if (!row.privileges) continue;
      findings.push({
        check: 'grants',
        severity: 'problem',
        subject: `${role}: ${row.name}`,
        message: `${role} has ${row.privileges} on ${row.name}: only the auth schema owner may touch the key store`,
        fix: `REVOKE ALL ON ${row.name} FROM ${role}, PUBLIC;`,
      });
    }
    const functions = await client.query<{ name: string }>(
      `SELECT p.oid::regprocedure::text AS name FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'auth'::regnamespace AND p.proname IN ('init', 'session', 'user_id')
          AND NOT pg_catalog.has_function_privilege($1, p.oid, 'EXECUTE') ORDER BY 1`,
      [role],
    );
    for (const row of functions.rows) {
      findings.push({
        check: 'grants',
        severity: 'problem',
        subject: `${role}: ${row.name}`,
        message: `${role} cannot execute ${row.name}`,
        fix: 'run `authdb migrate` (it restores the grants of the public API)',
      });
    }
    const admin = await client.query<{ name: string }>(
      `SELECT p.oid::regprocedure::text AS name FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'auth'::regnamespace
          AND (p.proname LIKE 'policy\\_%' OR p.proname IN ('add_provider', 'add_key', 'revoke_key'))
          AND pg_catalog.has_function_privilege($1, p.oid, 'EXECUTE') ORDER BY 1`,
      [role],
    );
    for (const row of admin.rows) {
      findings.push({
        check: 'grants',
        severity: 'problem',
        subject: `${role}: ${row.name}`,
        message: `${role} can execute the admin function ${row.name}`,
        fix: `REVOKE EXECUTE ON FUNCTION ${row.name} FROM ${role}, PUBLIC;`,
      });
    }
  }
}
