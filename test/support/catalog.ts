// A comparable snapshot of what is installed in the auth schema: functions with their definitions,
// tables and columns, indexes, ACLs, and the auth roles.
import type pg from 'pg';

export async function authCatalog(client: pg.ClientBase | pg.Pool): Promise<Record<string, unknown>> {
  const query = async (sql: string) => (await client.query(sql)).rows;
  return {
    functions: await query(`
      SELECT p.oid::regprocedure::text AS signature, pg_get_functiondef(p.oid) AS definition,
             p.proacl::text[] AS acl, pg_get_userbyid(p.proowner) AS owner
        FROM pg_proc AS p WHERE p.pronamespace = 'auth'::regnamespace ORDER BY 1`),
    tables: await query(`
      SELECT c.relname AS name, c.relkind AS kind, c.relacl::text[] AS acl,
             (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                                'notnull', a.attnotnull, 'default', pg_get_expr(d.adbin, d.adrelid))
                              ORDER BY a.attnum)
                FROM pg_attribute AS a LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
        FROM pg_class AS c WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind IN ('r', 'v', 'S') ORDER BY 1`),
    indexes: await query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'auth' ORDER BY 1`),
    constraints: await query(`
      SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE connamespace = 'auth'::regnamespace ORDER BY 1, 2`),
    schema: await query(`SELECT nspacl::text[] AS acl FROM pg_namespace WHERE nspname = 'auth'`),
    roles: await query(`SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('authenticated', 'anonymous') ORDER BY 1`),
    algorithms: await query(`SELECT * FROM auth.algorithms ORDER BY alg`),
  };
}
