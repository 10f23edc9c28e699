// SECURITY DEFINER functions run with their owner's rights, resolving names through search_path.
// Without a pinned search_path that lists pg_temp last, a caller decides what the names mean: a
// schema of theirs early on the path, or a temporary table (pg_temp is searched first for
// relations unless listed) shadows the table the function meant (splinter's
// function_search_path_mutable, for the functions where it is a privilege escalation).
import { AUTH_ROLES, report, SYSTEM_SCHEMAS_SQL, type DoctorContext } from './finding.js';

/** True when `search_path=…` (a proconfig entry) names pg_temp as its last schema. */
export function pinsTempLast(setting: string | null): boolean {
  if (setting === null) return false;
  const schemas = setting.replace(/^search_path=/, '').split(',').map((s) => s.trim().replace(/^"(.*)"$/, '$1'));
  return schemas[schemas.length - 1] === 'pg_temp';
}

export async function checkDefinerFunctions(context: DoctorContext): Promise<void> {
  context.checked.push('functions');
  const { rows } = await context.client.query<{ name: string; schema: string; search_path: string | null; callers: string[] }>(
    `SELECT p.oid::pg_catalog.regprocedure::text AS name, pg_catalog.quote_ident(n.nspname) AS schema,
            (SELECT s FROM pg_catalog.unnest(p.proconfig) AS s WHERE s LIKE 'search\\_path=%') AS search_path,
            ARRAY(SELECT a.role FROM pg_catalog.unnest($1::text[]) AS a (role)
                   WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = a.role)
                     AND pg_catalog.has_function_privilege(a.role, p.oid, 'EXECUTE')
                   ORDER BY a.role) AS callers
       FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
      WHERE p.prosecdef AND ${SYSTEM_SCHEMAS_SQL}
      ORDER BY 1`,
    [AUTH_ROLES],
  );
  for (const row of rows) {
    if (pinsTempLast(row.search_path)) continue;
    const how = row.search_path === null ? 'has no pinned search_path' : `pins ${row.search_path} without pg_temp last`;
    const exposed = row.callers.length > 0;
    report(context, {
      check: 'functions', code: 'definer_mutable_search_path', severity: exposed ? 'problem' : 'warning', subject: row.name,
      message: `SECURITY DEFINER function ${row.name} ${how}: ${exposed ? `${row.callers.join(', ')} can call it and` : 'whoever can call it can'} make the names it uses resolve to objects of their own (a temporary table, a schema on their path), run with its owner's rights`,
      fix: `ALTER FUNCTION ${row.name} SET search_path = pg_catalog, ${row.schema}, pg_temp; -- and schema-qualify what it calls`,
    });
  }
}
