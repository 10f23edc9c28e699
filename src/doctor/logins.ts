// The login roles the application connects as. withAuth (and the raw recipe) enter a request role
// with SET LOCAL ROLE, but any SQL the request runs may say RESET ROLE, or COMMIT and go on: it then
// acts as the login role. So a login role must be able to SET ROLE authenticated/anonymous and must
// hold nothing of its own: no superuser or BYPASSRLS, no owned tables (owners bypass RLS), no table
// privileges beyond those of the request roles, no share of the auth schema owner's rights.
import { AuthdbError } from '../errors.js';
import { AUTH_ROLES, listed, report, SYSTEM_SCHEMAS_SQL, type DoctorContext } from './finding.js';

interface LoginRole {
  oid: number;
  name: string;
  quoted: string;
  rolsuper: boolean;
  rolbypassrls: boolean;
}

/**
 * Which login roles to check: those named with --app-role; the connected role when it is neither a
 * superuser nor the auth schema owner (someone ran doctor with the application's URL); and every
 * other login role that may connect to this database and is a member of a request role, except
 * superusers and the auth schema owner (the DBA's roles, which migrations make members).
 */
async function loginRoles(context: DoctorContext): Promise<LoginRole[]> {
  const { client, appRoles, authSchema } = context;
  const missing = await client.query<{ name: string }>(
    `SELECT a.name FROM pg_catalog.unnest($1::text[]) AS a (name)
      WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = a.name)`,
    [appRoles],
  );
  if (missing.rows.length > 0) throw new AuthdbError('unknown_role', `\`appRoles\`: no role named ${missing.rows.map((r) => r.name).join(', ')}`);
  const { rows } = await client.query<LoginRole>(
    `WITH owner AS (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.nspname = $3)
     SELECT r.oid::int AS oid, r.rolname AS name, pg_catalog.quote_ident(r.rolname) AS quoted, r.rolsuper, r.rolbypassrls
       FROM pg_catalog.pg_roles AS r
      WHERE r.rolname <> ALL ($2)
        AND (r.rolname = ANY ($1)
             OR (NOT r.rolsuper AND r.oid NOT IN (SELECT nspowner FROM owner)
                 AND (r.rolname = current_user
                      OR (r.rolcanlogin
                          AND pg_catalog.has_database_privilege(r.oid, pg_catalog.current_database(), 'CONNECT')
                          AND EXISTS (SELECT 1 FROM pg_catalog.unnest($2::text[]) AS a (role)
                                       WHERE pg_catalog.pg_has_role(r.oid, a.role, 'MEMBER'))))))
      ORDER BY r.rolname`,
    [appRoles, AUTH_ROLES, authSchema],
  );
  return rows;
}

export async function checkLoginRoles(context: DoctorContext): Promise<void> {
  context.checked.push('logins');
  for (const login of await loginRoles(context)) {
    if (login.rolsuper || login.rolbypassrls) {
      report(context, {
        check: 'logins', code: 'login_bypasses_rls', severity: 'problem', subject: login.name,
        message: `login role ${login.name} is ${login.rolsuper ? 'a superuser' : 'BYPASSRLS'}: a request that runs RESET ROLE (or COMMIT and goes on) escapes every policy`,
        fix: `CREATE ROLE app_login LOGIN NOSUPERUSER NOBYPASSRLS; GRANT ${AUTH_ROLES.join(', ')} TO app_login; -- and connect the application as app_login instead`,
      });
      if (login.rolsuper) continue; // a superuser may SET ROLE to anything and owns everything
    }
    await checkSetRole(context, login);
    await checkOwnership(context, login);
    await checkPrivileges(context, login);
  }
}

async function checkSetRole(context: DoctorContext, login: LoginRole): Promise<void> {
  // Postgres 16 separates SET from membership (GRANT … WITH SET FALSE).
  const option = context.serverVersion >= 160000 ? 'SET' : 'MEMBER';
  const { rows } = await context.client.query<{ role: string }>(
    `SELECT a.role FROM pg_catalog.unnest($2::text[]) AS a (role)
      WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = a.role)
        AND NOT pg_catalog.pg_has_role($1::oid, a.role, '${option}')`,
    [login.oid, AUTH_ROLES],
  );
  for (const { role } of rows) {
    report(context, {
      check: 'logins', code: 'login_cannot_set_role', severity: 'problem', subject: login.name,
      message: `login role ${login.name} cannot SET ROLE ${role}: withAuth fails for ${role === 'anonymous' ? 'requests without a token' : 'requests with a token'}`,
      fix: `GRANT ${role} TO ${login.quoted}${context.serverVersion >= 160000 ? ' WITH SET TRUE' : ''};`,
    });
  }
}

async function checkOwnership(context: DoctorContext, login: LoginRole): Promise<void> {
  const auth = await context.client.query<{ owner: string }>(
    `SELECT pg_catalog.quote_ident(o.rolname) AS owner
       FROM pg_catalog.pg_namespace AS n JOIN pg_catalog.pg_roles AS o ON o.oid = n.nspowner
      WHERE n.nspname = $2 AND pg_catalog.pg_has_role($1::oid, n.nspowner, 'MEMBER')`,
    [login.oid, context.authSchema],
  );
  if (auth.rows.length > 0) {
    const owner = auth.rows[0]!.owner;
    report(context, {
      check: 'logins', code: 'login_owns_auth', severity: 'problem', subject: login.name,
      message: `login role ${login.name} ${owner === login.quoted ? 'owns' : `is a member of ${owner}, the owner of`} schema ${context.authSchema}: ` +
        'after RESET ROLE a request reads the sealing secret and can forge any identity',
      fix: owner === login.quoted
        ? `CREATE ROLE authdb_owner NOLOGIN; REASSIGN OWNED BY ${login.quoted} TO authdb_owner; GRANT authdb_owner TO <your DBA role>; -- then connect the application with a login role that owns nothing`
        : `REVOKE ${owner} FROM ${login.quoted};`,
    });
  }
  const owned = await context.client.query<{ name: string }>(
    `SELECT c.oid::pg_catalog.regclass::text AS name
       FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${SYSTEM_SCHEMAS_SQL} AND n.nspname <> $2
        AND pg_catalog.pg_has_role($1::oid, c.relowner, 'MEMBER')
      ORDER BY 1`,
    [login.oid, context.authSchema],
  );
  if (owned.rows.length > 0) {
    const names = owned.rows.map((r) => r.name);
    report(context, {
      check: 'logins', code: 'login_owns_tables', severity: 'problem', subject: login.name,
      message: `login role ${login.name} owns (or may SET ROLE to the owner of) ${names.length} table(s) or view(s): ${listed(names)}; ` +
        'owners bypass row-level security, so a request that runs RESET ROLE reads and changes every row',
      fix: `CREATE ROLE app_owner NOLOGIN; REASSIGN OWNED BY ${login.quoted} TO app_owner; -- run migrations as app_owner (SET ROLE app_owner) from now on`,
    });
  }
}

async function checkPrivileges(context: DoctorContext, login: LoginRole): Promise<void> {
  // Privileges the login role holds beyond those of the request roles (which it may inherit: they
  // give nothing a request does not already have, and the same policies apply to members).
  const { rows } = await context.client.query<{ name: string; privileges: string }>(
    `SELECT c.oid::pg_catalog.regclass::text AS name, pg_catalog.string_agg(p.privilege, ', ' ORDER BY p.position) AS privileges
       FROM pg_catalog.pg_class AS c
       JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
       CROSS JOIN pg_catalog.unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) WITH ORDINALITY AS p (privilege, position)
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${SYSTEM_SCHEMAS_SQL} AND n.nspname <> $3
        AND NOT pg_catalog.pg_has_role($1::oid, c.relowner, 'MEMBER')
        AND pg_catalog.has_table_privilege($1::oid, c.oid, p.privilege)
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest($2::text[]) AS a (role)
                         WHERE pg_catalog.has_table_privilege(a.role, c.oid, p.privilege))
      GROUP BY c.oid ORDER BY 1`,
    [login.oid, AUTH_ROLES, context.authSchema],
  );
  if (rows.length === 0) return;
  const via = await context.client.query<{ role: string }>(
    `SELECT pg_catalog.quote_ident(g.rolname) AS role
       FROM pg_catalog.pg_auth_members AS m JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid
      WHERE m.member = $1::oid AND g.rolname <> ALL ($2) ORDER BY 1`,
    [login.oid, AUTH_ROLES],
  );
  const names = rows.map((r) => r.name);
  report(context, {
    check: 'logins', code: 'login_table_privileges', severity: 'problem', subject: login.name,
    message: `login role ${login.name} holds privileges the request roles do not have, on ${listed(rows.map((r) => `${r.name} (${r.privileges})`))}: ` +
      'a request that runs RESET ROLE uses them',
    fix: `REVOKE ALL ON TABLE ${names.join(', ')} FROM ${login.quoted};` +
      (via.rows.length > 0 ? ` -- or, where they come through a role: REVOKE ${via.rows.map((r) => r.role).join(', ')} FROM ${login.quoted};` : ''),
  });
}
