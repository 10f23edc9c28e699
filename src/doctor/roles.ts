// The request roles, `authenticated` and `anonymous`: they exist, obey RLS, are entered only with
// SET ROLE, and cannot create temporary objects (docs/security.md §10: a temporary table named like
// an app table shadows it for every later request on that connection).
import { AUTH_ROLES, report, type DoctorContext } from './finding.js';

export async function checkAuthRoles(context: DoctorContext): Promise<void> {
  context.checked.push('roles');
  const { rows } = await context.client.query<{
    rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean; temp: boolean; temp_grantees: string[]; db: string;
  }>(
    `SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcanlogin,
            pg_catalog.has_database_privilege(r.oid, d.oid, 'TEMPORARY') AS temp,
            ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(g.rolname) END
                    FROM pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) AS a
                    LEFT JOIN pg_catalog.pg_roles AS g ON g.oid = a.grantee
                   WHERE a.privilege_type = 'TEMPORARY' AND a.grantee <> d.datdba
                     AND (a.grantee = 0 OR pg_catalog.pg_has_role(r.oid, a.grantee, 'USAGE'))
                   ORDER BY a.grantee) AS temp_grantees,
            pg_catalog.quote_ident(d.datname) AS db
       FROM pg_catalog.pg_roles AS r CROSS JOIN pg_catalog.pg_database AS d
      WHERE r.rolname = ANY ($1) AND d.datname = pg_catalog.current_database()`,
    [AUTH_ROLES],
  );
  for (const role of AUTH_ROLES) {
    const row = rows.find((r) => r.rolname === role);
    if (!row) {
      report(context, {
        check: 'roles', code: 'auth_role_missing', severity: 'problem', subject: role,
        message: `role ${role} does not exist`, fix: 'run `authdb migrate` (it creates the roles)',
      });
      continue;
    }
    if (row.rolsuper || row.rolbypassrls) {
      report(context, {
        check: 'roles', code: 'auth_role_bypasses_rls', severity: 'problem', subject: role,
        message: `role ${role} bypasses row-level security (${row.rolsuper ? 'SUPERUSER' : 'BYPASSRLS'}): every request sees every row`,
        fix: `ALTER ROLE ${role} NOSUPERUSER NOBYPASSRLS;`,
      });
    }
    if (row.rolcanlogin) {
      report(context, {
        check: 'roles', code: 'auth_role_can_login', severity: 'warning', subject: role,
        message: `role ${role} can log in; it is meant to be entered with SET ROLE only`,
        fix: `ALTER ROLE ${role} NOLOGIN;`,
      });
    }
    if (row.temp) {
      const from = row.temp_grantees.length > 0 ? row.temp_grantees.join(', ') : role;
      report(context, {
        check: 'roles', code: 'auth_role_temp', severity: 'problem', subject: role,
        message: `${role} may create temporary tables (TEMPORARY on database ${row.db}${row.temp_grantees.includes('PUBLIC') ? ', through PUBLIC' : ''}): ` +
          'a request can plant one named like an app table, with a trigger, that shadows it for later requests on the same connection',
        fix: `REVOKE TEMPORARY ON DATABASE ${row.db} FROM ${from}; -- then GRANT TEMPORARY ON DATABASE ${row.db} TO the login roles that need temporary tables`,
      });
    }
  }
}
