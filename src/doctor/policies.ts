// Policies: what their expressions trust, and what they cost. An identity call outside a
// sub-select runs once per row; a setting read with current_setting() is whatever the SQL user SET
// it to (PostgREST's `request.jwt.claims` included); Supabase's `user_metadata` claim is written by
// the user themself. Only auth.session() and the functions built on it carry a verified, sealed
// identity (docs/security.md §2).
import { callsPerRow, parseExpression, readsSetting, strings, withoutComments } from './expression.js';
import { report, type DoctorContext } from './finding.js';

/** The calls of `schema`'s functions in a policy expression that Postgres evaluates once per row. */
export async function perRowAuthCalls(expression: string, schema = 'auth'): Promise<string[]> {
  return callsPerRow(await parseExpression(expression), schema);
}

/** Forgeable inputs in a policy expression or in the body of a function it calls. */
const REQUEST_JWT = /request\.jwt\./i;
const ANY_SETTING = /\bcurrent_setting\s*\(/i;
const USER_METADATA = /user_metadata|raw_user_meta_data/i;

interface Reading {
  perRow: string[];
  setting: boolean;
  jwt: boolean;
  metadata: boolean;
}

/**
 * What one policy expression calls and reads. An expression the parser cannot read (a newer
 * server's syntax) is searched as text for what it may trust, so that check fails closed.
 */
async function read(expression: string | null, schema: string, skipped: () => void): Promise<Reading> {
  if (expression === null) return { perRow: [], setting: false, jwt: false, metadata: false };
  try {
    const tree = await parseExpression(expression);
    const text = strings(tree);
    const setting = readsSetting(tree);
    return { perRow: callsPerRow(tree, schema), setting, jwt: setting && text.some((s) => REQUEST_JWT.test(s)), metadata: text.some((s) => USER_METADATA.test(s)) };
  } catch {
    skipped();
    return { perRow: [], setting: ANY_SETTING.test(expression) || REQUEST_JWT.test(expression), jwt: REQUEST_JWT.test(expression), metadata: USER_METADATA.test(expression) };
  }
}

export async function checkPolicies(context: DoctorContext): Promise<void> {
  const { client, authSchema } = context;
  context.checked.push('policies');
  const { rows } = await client.query<{ schemaname: string; tablename: string; table: string; policyname: string; quoted: string; qual: string | null; with_check: string | null }>(
    `SELECT p.schemaname::text AS schemaname, p.tablename::text AS tablename,
            pg_catalog.format('%I.%I', p.schemaname, p.tablename) AS table, p.policyname::text AS policyname,
            pg_catalog.quote_ident(p.policyname) AS quoted, p.qual, p.with_check
       FROM pg_catalog.pg_policies AS p ORDER BY p.schemaname, p.tablename, p.policyname`,
  );
  for (const row of rows) {
    const subject = `${row.schemaname}.${row.tablename}: ${row.policyname}`;
    const policy = `policy ${row.quoted} on ${row.table}`;
    const skipped = () => context.skipped.push({ check: 'policies', reason: `${policy}: its expression did not parse, so its calls per row were not counted` });
    const qual = await read(row.qual, authSchema, skipped);
    const check = await read(row.with_check, authSchema, skipped);
    const calls = [...new Set([...qual.perRow, ...check.perRow])];
    if (calls.length > 0) {
      report(context, {
        check: 'policies', code: 'auth_call_per_row', severity: 'warning', subject,
        message: `${policy} calls ${calls.join(', ')} once per row (it verifies the identity seal on every row)`,
        fix: `wrap each call in its own sub-select, column = (select ${calls[0]}), with ALTER POLICY ${row.quoted} ON ${row.table} USING (…); or re-create it with an ${authSchema}.policy_* template`,
      });
    }
    if (qual.setting || check.setting) {
      const jwt = qual.jwt || check.jwt;
      report(context, {
        check: 'policies', code: 'policy_trusts_setting', severity: jwt ? 'problem' : 'warning', subject,
        message: `${policy} reads ${jwt ? "request.jwt.* (PostgREST's claims setting)" : 'a setting with current_setting()'}, which any SQL user can SET to anything: ${jwt ? 'a forged identity passes it' : 'do not let it decide who sees a row'}`,
        fix: `ALTER POLICY ${row.quoted} ON ${row.table} USING (…); -- test (select ${authSchema}.user_id()) or (select ${authSchema}.session() ->> 'claim') instead of current_setting(…)`,
      });
    }
    if (qual.metadata || check.metadata) {
      report(context, {
        check: 'policies', code: 'policy_user_metadata', severity: 'problem', subject,
        message: `${policy} reads user_metadata, which the user can edit themself (e.g. supabase.auth.updateUser): they grant themselves what it checks`,
        fix: `ALTER POLICY ${row.quoted} ON ${row.table} USING (…); -- decide on app_metadata or on a table the user cannot write`,
      });
    }
  }
  await checkPolicyFunctions(context, authSchema);
}

/** Functions that policies call (their dependencies), outside authdb, reading forgeable inputs. */
async function checkPolicyFunctions(context: DoctorContext, authSchema: string): Promise<void> {
  const { rows } = await context.client.query<{ subject: string; policy: string; fn: string; prosrc: string }>(
    `SELECT DISTINCT pg_catalog.format('%s: %s', pol.polrelid::pg_catalog.regclass, pol.polname) AS subject,
            pg_catalog.format('policy %I on %s', pol.polname, pol.polrelid::pg_catalog.regclass) AS policy,
            f.oid::pg_catalog.regprocedure::text AS fn, f.prosrc
       FROM pg_catalog.pg_policy AS pol
       JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND d.objid = pol.oid
                                      AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
       JOIN pg_catalog.pg_proc AS f ON f.oid = d.refobjid
       JOIN pg_catalog.pg_namespace AS n ON n.oid = f.pronamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', $1)
      ORDER BY 1, 3`,
    [authSchema],
  );
  for (const row of rows) {
    const body = await withoutComments(row.prosrc);
    if (REQUEST_JWT.test(body)) {
      report(context, {
        check: 'policies', code: 'policy_trusts_setting', severity: 'problem', subject: row.subject,
        message: `${row.policy} calls ${row.fn}, which reads request.jwt.* (PostgREST's claims setting): any SQL user can SET it, so a forged identity passes`,
        fix: `CREATE OR REPLACE FUNCTION ${row.fn} … -- return (select ${authSchema}.user_id()) or (select ${authSchema}.session() ->> 'claim') instead`,
      });
    }
    if (USER_METADATA.test(body)) {
      report(context, {
        check: 'policies', code: 'policy_user_metadata', severity: 'problem', subject: row.subject,
        message: `${row.policy} calls ${row.fn}, which reads user_metadata: the user can edit it themself`,
        fix: `CREATE OR REPLACE FUNCTION ${row.fn} … -- decide on app_metadata or on a table the user cannot write`,
      });
    }
  }
}
