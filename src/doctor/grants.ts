// The auth schema: what the request roles may do in it, who can read the sealing secret, and
// whether its owner can bind session-scope seals to a backend's start time.
import { AUTH_ROLES, report, type DoctorContext } from './finding.js';

const TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];

export async function checkAuthGrants(context: DoctorContext): Promise<void> {
  const { client, authSchema } = context;
  const schema = context.authSchemaSql;
  context.checked.push('grants');
  const roles = await client.query<{ role: string; usage: boolean; create: boolean }>(
    `SELECT a.role,
            pg_catalog.has_schema_privilege(a.role, n.oid, 'USAGE') AS usage,
            pg_catalog.has_schema_privilege(a.role, n.oid, 'CREATE') AS create
       FROM pg_catalog.unnest($1::text[]) AS a (role) CROSS JOIN pg_catalog.pg_namespace AS n
      WHERE n.nspname = $2 AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = a.role)
      ORDER BY a.role`,
    [AUTH_ROLES, authSchema],
  );
  for (const { role, usage, create } of roles.rows) {
    if (!usage) {
      report(context, {
        check: 'grants', code: 'auth_schema_no_usage', severity: 'problem', subject: role,
        message: `${role} has no USAGE on schema ${authSchema}: policies calling ${authSchema}.user_id() fail for it`,
        fix: `GRANT USAGE ON SCHEMA ${schema} TO ${role};`,
      });
    }
    if (create) {
      report(context, {
        check: 'grants', code: 'auth_schema_create', severity: 'problem', subject: role,
        message: `${role} can CREATE in schema ${authSchema}: it could plant objects next to the auth code`,
        fix: `REVOKE CREATE ON SCHEMA ${schema} FROM ${role}; REVOKE CREATE ON SCHEMA ${schema} FROM PUBLIC;`,
      });
    }
  }
  const tables = await client.query<{ role: string; name: string; privileges: string }>(
    `SELECT a.role, c.oid::pg_catalog.regclass::text AS name,
            pg_catalog.string_agg(p.privilege, ', ' ORDER BY p.position) AS privileges
       FROM pg_catalog.pg_class AS c
       JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
       CROSS JOIN pg_catalog.unnest($1::text[]) AS a (role)
       CROSS JOIN pg_catalog.unnest($3::text[]) WITH ORDINALITY AS p (privilege, position)
      WHERE n.nspname = $2 AND c.relkind IN ('r', 'p', 'v', 'm')
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = a.role)
        AND pg_catalog.has_table_privilege(a.role, c.oid, p.privilege)
      GROUP BY a.role, c.oid ORDER BY 1, 2`,
    [AUTH_ROLES, authSchema, TABLE_PRIVILEGES],
  );
  for (const row of tables.rows) {
    report(context, {
      check: 'grants', code: 'auth_table_privilege', severity: 'problem', subject: `${row.role}: ${row.name}`,
      message: `${row.role} has ${row.privileges} on ${row.name}: only the auth schema owner may touch the key store`,
      fix: `REVOKE ALL ON ${row.name} FROM ${row.role}, PUBLIC;`,
    });
  }
  const functions = await client.query<{ role: string; name: string; api: boolean }>(
    `SELECT a.role, p.oid::pg_catalog.regprocedure::text AS name, p.proname IN ('init', 'session', 'user_id') AS api
       FROM pg_catalog.pg_proc AS p
       JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
       CROSS JOIN pg_catalog.unnest($1::text[]) AS a (role)
      WHERE n.nspname = $2 AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = a.role)
        AND (   (p.proname IN ('init', 'session', 'user_id') AND NOT pg_catalog.has_function_privilege(a.role, p.oid, 'EXECUTE'))
             OR ((p.proname LIKE 'policy\\_%' OR p.proname LIKE 'revoke\\_%' OR p.proname IN ('add_provider', 'add_key', 'rotate_seal_secret'))
                 AND pg_catalog.has_function_privilege(a.role, p.oid, 'EXECUTE')))
      ORDER BY 1, 2`,
    [AUTH_ROLES, authSchema],
  );
  for (const row of functions.rows) {
    report(context, row.api
      ? {
        check: 'grants', code: 'auth_api_not_executable', severity: 'problem', subject: `${row.role}: ${row.name}`,
        message: `${row.role} cannot execute ${row.name}`,
        fix: 'run `authdb migrate` (it restores the grants of the public API)',
      }
      : {
        check: 'grants', code: 'auth_admin_executable', severity: 'problem', subject: `${row.role}: ${row.name}`,
        message: `${row.role} can execute the admin function ${row.name}`,
        fix: `REVOKE EXECUTE ON FUNCTION ${row.name} FROM ${row.role}, PUBLIC;`,
      });
  }
}

/** Tables whose rows are credentials, what a reader can forge, and the code of the finding. */
const SECRET_TABLES = [
  { table: 'seal_secret', code: 'seal_secret_readable', what: 'the sealing secret', forges: 'the identity of any user', after: 'run `authdb seal rotate`' },
  { table: 'hmac_keys', code: 'hmac_keys_readable', what: 'the HMAC key material of HS* providers', forges: 'tokens of those providers', after: 'rotate those shared secrets at the provider' },
] as const;

/**
 * Login roles other than the auth schema owner that can read a secret table (docs/security.md §2,
 * §11): whoever reads the sealing secret forges any identity; whoever reads HMAC keys forges
 * tokens. With row-level security on the table and no policy (migration 0008), SELECT alone is not
 * enough: only BYPASSRLS roles, or roles that can act as the owner (unless FORCE ROW LEVEL
 * SECURITY), read it. Superusers always can, and are expected to.
 */
export async function checkSecretReaders(context: DoctorContext): Promise<void> {
  context.checked.push('secrets');
  for (const secret of SECRET_TABLES) await checkSecretTable(context, secret);
}

async function checkSecretTable(context: DoctorContext, secret: (typeof SECRET_TABLES)[number]): Promise<void> {
  const { rows } = await context.client.query<{ name: string; quoted: string; table: string; owner: string; as_owner: boolean; direct: boolean; read_all: boolean; bypass: boolean }>(
    `SELECT r.rolname AS name, pg_catalog.quote_ident(r.rolname) AS quoted, c.oid::pg_catalog.regclass::text AS table,
            pg_catalog.quote_ident(o.rolname) AS owner,
            pg_catalog.pg_has_role(r.oid, c.relowner, 'MEMBER') AS as_owner,
            pg_catalog.has_table_privilege(r.oid, c.oid, 'SELECT') AS direct,
            pg_catalog.pg_has_role(r.oid, 'pg_read_all_data', 'MEMBER') AS read_all,
            r.rolbypassrls AS bypass
       FROM pg_catalog.pg_class AS c
       JOIN pg_catalog.pg_roles AS o ON o.oid = c.relowner
       CROSS JOIN pg_catalog.pg_roles AS r
      WHERE c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident($1) || '.' || $3)
        AND r.rolcanlogin AND NOT r.rolsuper AND r.oid <> c.relowner AND r.rolname <> ALL ($2)
        AND pg_catalog.has_database_privilege(r.oid, pg_catalog.current_database(), 'CONNECT')
        AND (pg_catalog.has_table_privilege(r.oid, c.oid, 'SELECT') OR pg_catalog.pg_has_role(r.oid, c.relowner, 'MEMBER'))
        AND (NOT c.relrowsecurity OR r.rolbypassrls
             OR (pg_catalog.pg_has_role(r.oid, c.relowner, 'MEMBER') AND NOT c.relforcerowsecurity)
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy AS pol
                         WHERE pol.polrelid = c.oid AND pol.polpermissive AND pol.polcmd IN ('r', '*')
                           AND (0 = ANY (pol.polroles) OR EXISTS (SELECT 1 FROM pg_catalog.unnest(pol.polroles) AS pr (oid)
                                                                     WHERE pg_catalog.pg_has_role(r.oid, pr.oid, 'MEMBER')))))
      ORDER BY 1`,
    [context.authSchema, AUTH_ROLES, secret.table],
  );
  for (const row of rows) {
    const fixes: string[] = [];
    if (row.as_owner) fixes.push(`REVOKE ${row.owner} FROM ${row.quoted};`);
    if (row.read_all) fixes.push(`REVOKE pg_read_all_data FROM ${row.quoted};`);
    if (row.direct && !row.read_all) fixes.push(`REVOKE ALL ON ${row.table} FROM PUBLIC, ${row.quoted};`);
    if (row.bypass) fixes.push(`ALTER ROLE ${row.quoted} NOBYPASSRLS;`);
    report(context, {
      check: 'secrets', code: secret.code, severity: 'problem', subject: row.name,
      message: `login role ${row.name} can read ${secret.what}, ${row.table}` +
        `${row.as_owner ? ` (it may act as its owner ${row.owner})` : row.read_all ? ' (member of pg_read_all_data)' : ''}${row.bypass ? ' (BYPASSRLS)' : ''}: it can forge ${secret.forges}`,
      fix: `${fixes.join(' ')} -- then ${secret.after}: what was readable may have been read`,
    });
  }
}

/**
 * Session scope binds a seal to the backend's start time, read from pg_stat_activity with the auth
 * schema owner's rights; the owner sees other logins' backend_start only as a superuser or with the
 * privileges of pg_read_all_stats. Without it, session scope is refused (transaction scope works).
 */
export async function checkSessionScope(context: DoctorContext): Promise<void> {
  const { rows } = await context.client.query<{ owner: string; able: boolean }>(
    `SELECT pg_catalog.quote_ident(o.rolname) AS owner,
            o.rolsuper OR pg_catalog.pg_has_role(o.oid, 'pg_read_all_stats', 'USAGE') AS able
       FROM pg_catalog.pg_namespace AS n JOIN pg_catalog.pg_roles AS o ON o.oid = n.nspowner
      WHERE n.nspname = $1`,
    [context.authSchema],
  );
  const row = rows[0];
  if (!row || row.able) return;
  report(context, {
    check: 'secrets', code: 'session_scope_unavailable', severity: 'warning', subject: row.owner,
    message: `the ${context.authSchema} schema owner ${row.owner} is not a superuser and lacks pg_read_all_stats: it cannot see other logins' backend_start, ` +
      `so ${context.authSchema}.init(jwt, 'session') and ${context.authSchema}.jwt_session_init() are refused (transaction scope works)`,
    fix: `GRANT pg_read_all_stats TO ${row.owner};`,
  });
}

