// Row-level security on the tables and views the request roles can reach (after Supabase's
// splinter lints rls_disabled_in_public, policy_exists_rls_disabled, rls_enabled_no_policy and
// security_definer_view, for any Postgres). A table a request role may use with RLS off leaks every
// row; RLS on without a policy fails closed.
import { AUTH_ROLES, report, SYSTEM_SCHEMAS_SQL, type DoctorContext } from './finding.js';

const PRIVILEGES = 'SELECT, INSERT, UPDATE, DELETE';

export async function checkTables(context: DoctorContext): Promise<void> {
  const { client, authSchema } = context;
  context.checked.push('rls');
  const tables = await client.query<{
    name: string; literal: string; rls: boolean; policies: number; exposed_to: string[]; policy_roles_without_privilege: string[];
  }>(
    `SELECT c.oid::pg_catalog.regclass::text AS name, pg_catalog.quote_literal(c.oid::pg_catalog.regclass::text) AS literal,
            c.relrowsecurity AS rls,
            (SELECT pg_catalog.count(*)::int FROM pg_catalog.pg_policy AS p WHERE p.polrelid = c.oid) AS policies,
            ARRAY(SELECT a.role FROM pg_catalog.unnest($1::text[]) AS a (role)
                   WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = a.role)
                     AND pg_catalog.has_schema_privilege(a.role, n.oid, 'USAGE')
                     AND pg_catalog.has_table_privilege(a.role, c.oid, '${PRIVILEGES}')
                   ORDER BY a.role) AS exposed_to,
            ARRAY(SELECT DISTINCT r.rolname::text FROM pg_catalog.pg_policy AS p
                    JOIN pg_catalog.pg_roles AS r ON r.oid = ANY (p.polroles) AND r.rolname = ANY ($1)
                   WHERE p.polrelid = c.oid AND NOT pg_catalog.has_table_privilege(r.oid, c.oid, '${PRIVILEGES}')
                   ORDER BY 1) AS policy_roles_without_privilege
       FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${SYSTEM_SCHEMAS_SQL} AND n.nspname <> $2
      ORDER BY 1`,
    [AUTH_ROLES, authSchema],
  );
  for (const t of tables.rows) {
    const roles = t.exposed_to.join(', ');
    if (!t.rls && t.exposed_to.length > 0) {
      report(context, {
        check: 'rls', code: 'rls_disabled_exposed', severity: 'problem', subject: t.name,
        message: `${roles} can use table ${t.name}, which has row-level security off${t.policies > 0 ? ` (its ${t.policies} policies do nothing)` : ''}: every user sees and changes every row`,
        fix: t.policies > 0
          ? `ALTER TABLE ${t.name} ENABLE ROW LEVEL SECURITY;`
          : `SELECT ${context.authSchemaSql}.policy_owner(${t.literal}); -- owner-only rows (enables RLS); or REVOKE ALL ON ${t.name} FROM ${roles};`,
      });
    } else if (!t.rls && t.policies > 0) {
      report(context, {
        check: 'rls', code: 'policy_exists_rls_disabled', severity: 'warning', subject: t.name,
        message: `table ${t.name} has ${t.policies} policies but row-level security is off: they do nothing, and the table leaks as soon as a request role is granted it`,
        fix: `ALTER TABLE ${t.name} ENABLE ROW LEVEL SECURITY;`,
      });
    }
    if (t.rls && t.policies === 0) {
      report(context, {
        check: 'rls', code: 'rls_enabled_no_policy', severity: 'info', subject: t.name,
        message: `table ${t.name} has row-level security on but no policy: every role but its owner sees no rows (fails closed)`,
        fix: `SELECT ${context.authSchemaSql}.policy_owner(${t.literal}); -- or CREATE POLICY … ON ${t.name} …`,
      });
    }
    for (const role of t.policy_roles_without_privilege) {
      report(context, {
        check: 'rls', code: 'policy_role_without_privilege', severity: 'warning', subject: t.name,
        message: `table ${t.name} has policies for ${role}, but ${role} has no privilege on it: its queries fail with "permission denied"`,
        fix: `GRANT ${PRIVILEGES} ON ${t.name} TO ${role}; -- only the commands you mean`,
      });
    }
  }
}

/**
 * Views run with their owner's rights unless created WITH (security_invoker = true) (Postgres 15+):
 * reading a table through a view its owner made skips that table's policies, since the owner
 * bypasses them. Materialized views have no row-level security at all.
 */
export async function checkViews(context: DoctorContext): Promise<void> {
  const { client, authSchema } = context;
  context.checked.push('views');
  const invokerSupported = context.serverVersion >= 150000;
  const { rows } = await client.query<{ name: string; kind: string; exposed_to: string[]; bypassed: string[] }>(
    `WITH RECURSIVE reads (view_oid, rel_oid) AS (
       SELECT w.ev_class, d.refobjid
         FROM pg_catalog.pg_rewrite AS w
         JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = w.oid
                                        AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> w.ev_class
       UNION
       SELECT reads.view_oid, d.refobjid
         FROM reads
         JOIN pg_catalog.pg_rewrite AS w ON w.ev_class = reads.rel_oid
         JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = w.oid
                                        AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> w.ev_class
     )
     SELECT v.oid::pg_catalog.regclass::text AS name, v.relkind::text AS kind,
            ARRAY(SELECT a.role FROM pg_catalog.unnest($1::text[]) AS a (role)
                   WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = a.role)
                     AND pg_catalog.has_schema_privilege(a.role, n.oid, 'USAGE')
                     AND pg_catalog.has_table_privilege(a.role, v.oid, 'SELECT')
                   ORDER BY a.role) AS exposed_to,
            ARRAY(SELECT DISTINCT t.oid::pg_catalog.regclass::text
                    FROM reads JOIN pg_catalog.pg_class AS t ON t.oid = reads.rel_oid
                    JOIN pg_catalog.pg_roles AS o ON o.oid = v.relowner
                   WHERE reads.view_oid = v.oid AND t.relkind IN ('r', 'p') AND t.relrowsecurity
                     AND (o.rolsuper OR o.rolbypassrls OR (pg_catalog.pg_has_role(o.oid, t.relowner, 'USAGE') AND NOT t.relforcerowsecurity))
                   ORDER BY 1) AS bypassed
       FROM pg_catalog.pg_class AS v JOIN pg_catalog.pg_namespace AS n ON n.oid = v.relnamespace
      WHERE v.relkind IN ('v', 'm') AND ${SYSTEM_SCHEMAS_SQL} AND n.nspname <> $2
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_options_to_table(v.reloptions) AS o
                         WHERE o.option_name = 'security_invoker' AND o.option_value::boolean)
      ORDER BY 1`,
    [AUTH_ROLES, authSchema],
  );
  for (const v of rows) {
    if (v.exposed_to.length === 0) continue;
    const roles = v.exposed_to.join(', ');
    const what = v.kind === 'm' ? 'materialized view' : 'view';
    const fix = v.kind === 'v' && invokerSupported
      ? `ALTER VIEW ${v.name} SET (security_invoker = true); -- the request roles then need privileges on what it reads`
      : `REVOKE SELECT ON ${v.name} FROM ${roles}; -- ${v.kind === 'm' ? 'a materialized view has no row-level security' : 'Postgres 14 has no security_invoker views'}: filter in the view itself, e.g. WHERE user_id = (select ${context.authSchemaSql}.user_id())`;
    if (v.bypassed.length > 0) {
      report(context, {
        check: 'views', code: 'view_bypasses_rls', severity: 'problem', subject: v.name,
        message: `${roles} can read ${what} ${v.name}, which reads ${v.bypassed.join(', ')} with its owner's rights, bypassing row-level security: every user sees every row`,
        fix,
      });
    } else {
      report(context, {
        check: 'views', code: 'security_definer_view', severity: 'warning', subject: v.name,
        message: `${roles} can read ${what} ${v.name}, which runs with its owner's rights (not security_invoker): whatever it reads, it shows to every user`,
        fix,
      });
    }
  }
}
