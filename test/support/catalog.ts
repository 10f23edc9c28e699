// A comparable snapshot of everything installed in the auth schema (definitions, owners, ACLs,
// comments, constraints, triggers, policies, default privileges), the auth roles and their
// members, the algorithm table and the recorded version: two installs are the same install when
// their snapshots are equal, whichever path (migrate, extension, SQL file, pg_tle) made them.
import type pg from 'pg';

const QUERIES: Record<string, string> = {
  schema: `
    SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) AS owner, n.nspacl::text[] AS acl,
           pg_catalog.obj_description(n.oid, 'pg_namespace') AS comment
      FROM pg_catalog.pg_namespace n WHERE n.nspname = 'auth'`,
  relations: `
    SELECT c.relname, c.relkind, pg_catalog.pg_get_userbyid(c.relowner) AS owner,
           (SELECT pg_catalog.array_agg(a ORDER BY a) FROM pg_catalog.unnest(c.relacl::text[]) a) AS acl,
           c.reloptions, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,
           pg_catalog.obj_description(c.oid, 'pg_class') AS comment,
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS view
      FROM pg_catalog.pg_class c WHERE c.relnamespace = 'auth'::regnamespace ORDER BY c.relname`,
  columns: `
    SELECT c.relname, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
           a.attnotnull, a.attidentity, a.attgenerated, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default,
           a.attacl::text[] AS acl, pg_catalog.col_description(c.oid, a.attnum) AS comment
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'auth'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY c.relname, a.attnum`,
  constraints: `
    SELECT c.relname, k.conname, k.contype, pg_catalog.pg_get_constraintdef(k.oid) AS definition
      FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
     WHERE c.relnamespace = 'auth'::regnamespace ORDER BY c.relname, k.conname`,
  indexes: `
    SELECT indexname, indexdef FROM pg_catalog.pg_indexes WHERE schemaname = 'auth' ORDER BY indexname`,
  sequences: `
    SELECT sequencename, data_type::text, start_value, increment_by, max_value, cycle
      FROM pg_catalog.pg_sequences WHERE schemaname = 'auth' ORDER BY sequencename`,
  functions: `
    SELECT p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
           pg_catalog.pg_get_functiondef(p.oid) AS definition, pg_catalog.pg_get_userbyid(p.proowner) AS owner,
           (SELECT pg_catalog.array_agg(a ORDER BY a) FROM pg_catalog.unnest(p.proacl::text[]) a) AS acl,
           pg_catalog.obj_description(p.oid, 'pg_proc') AS comment
      FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
     ORDER BY p.proname, args`,
  types: `
    SELECT t.typname, t.typtype, pg_catalog.pg_get_userbyid(t.typowner) AS owner
      FROM pg_catalog.pg_type t WHERE t.typnamespace = 'auth'::regnamespace ORDER BY t.typname`,
  triggers: `
    SELECT c.relname, t.tgname, pg_catalog.pg_get_triggerdef(t.oid) AS definition
      FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'auth'::regnamespace AND NOT t.tgisinternal ORDER BY c.relname, t.tgname`,
  policies: `
    SELECT tablename, policyname, permissive, roles::text[], cmd, qual, with_check
      FROM pg_catalog.pg_policies WHERE schemaname = 'auth' ORDER BY tablename, policyname`,
  defaultPrivileges: `
    SELECT d.defaclobjtype, d.defaclacl::text[] AS acl FROM pg_catalog.pg_default_acl d
     WHERE d.defaclnamespace = 'auth'::regnamespace ORDER BY d.defaclobjtype`,
  roles: `
    SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
           r.rolreplication, r.rolbypassrls, r.rolconnlimit,
           -- the membership an install grants (to its installer, the schema's owner); roles are
           -- cluster-wide, so members other test files grant meanwhile are not part of an install
           (SELECT pg_catalog.array_agg(m.member::regrole::text || ' admin=' || m.admin_option ORDER BY 1)
              FROM pg_catalog.pg_auth_members m
             WHERE m.roleid = r.oid
               AND m.member = (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'auth')) AS members
      FROM pg_catalog.pg_roles r WHERE r.rolname IN ('authenticated', 'anonymous') ORDER BY r.rolname`,
  algorithms: `SELECT * FROM auth.algorithms ORDER BY alg`,
  version: `SELECT auth.version() AS version`,
};

export type CatalogSnapshot = Record<string, unknown[]>;

export async function authCatalog(client: pg.ClientBase | pg.Pool): Promise<CatalogSnapshot> {
  const snapshot: CatalogSnapshot = {};
  for (const [name, sql] of Object.entries(QUERIES)) snapshot[name] = (await client.query(sql)).rows;
  return snapshot;
}
