// Policies: what their expressions trust, and what they cost. An identity call outside a
// sub-select runs once per row; a setting read with current_setting() is whatever the SQL user SET
// it to (PostgREST's `request.jwt.claims` included); Supabase's `user_metadata` claim is written by
// the user themself. Only auth.session() and the functions built on it carry a verified, sealed
// identity (docs/security.md §2).
import { report, type DoctorContext } from './finding.js';

/** Positions of the auth.*() calls in a policy expression that Postgres evaluates once per row. */
export function perRowAuthCalls(expression: string, tableName: string, schema = 'auth'): string[] {
  const calls: string[] = [];
  const callPattern = new RegExp(`(?<![\\w."])${schema}\\.([a-z_]+)\\(`, 'g');
  for (let match = callPattern.exec(expression); match; match = callPattern.exec(expression)) {
    if (!insideUncorrelatedSubselect(expression, match.index, tableName)) calls.push(`${schema}.${match[1]}()`);
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

/** Forgeable inputs in a policy expression or in the body of a function it calls. */
const REQUEST_JWT = /request\.jwt\./i;
const ANY_SETTING = /\bcurrent_setting\s*\(/i;
const USER_METADATA = /user_metadata|raw_user_meta_data/i;

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
    const text = `${row.qual ?? ''} ${row.with_check ?? ''}`;
    const calls = [...new Set([...perRowAuthCalls(row.qual ?? '', row.tablename, authSchema), ...perRowAuthCalls(row.with_check ?? '', row.tablename, authSchema)])];
    if (calls.length > 0) {
      report(context, {
        check: 'policies', code: 'auth_call_per_row', severity: 'warning', subject,
        message: `${policy} calls ${calls.join(', ')} once per row (it verifies the identity seal on every row)`,
        fix: `wrap each call in its own sub-select, column = (select ${calls[0]}), with ALTER POLICY ${row.quoted} ON ${row.table} USING (…); or re-create it with an ${authSchema}.policy_* template`,
      });
    }
    if (REQUEST_JWT.test(text) || ANY_SETTING.test(text)) {
      const jwt = REQUEST_JWT.test(text);
      report(context, {
        check: 'policies', code: 'policy_trusts_setting', severity: jwt ? 'problem' : 'warning', subject,
        message: `${policy} reads ${jwt ? "request.jwt.* (PostgREST's claims setting)" : 'a setting with current_setting()'}, which any SQL user can SET to anything: ${jwt ? 'a forged identity passes it' : 'do not let it decide who sees a row'}`,
        fix: `ALTER POLICY ${row.quoted} ON ${row.table} USING (…); -- test (select ${authSchema}.user_id()) or (select ${authSchema}.session() ->> 'claim') instead of current_setting(…)`,
      });
    }
    if (USER_METADATA.test(text)) {
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
    if (REQUEST_JWT.test(row.prosrc)) {
      report(context, {
        check: 'policies', code: 'policy_trusts_setting', severity: 'problem', subject: row.subject,
        message: `${row.policy} calls ${row.fn}, which reads request.jwt.* (PostgREST's claims setting): any SQL user can SET it, so a forged identity passes`,
        fix: `CREATE OR REPLACE FUNCTION ${row.fn} … -- return (select ${authSchema}.user_id()) or (select ${authSchema}.session() ->> 'claim') instead`,
      });
    }
    if (USER_METADATA.test(row.prosrc)) {
      report(context, {
        check: 'policies', code: 'policy_user_metadata', severity: 'problem', subject: row.subject,
        message: `${row.policy} calls ${row.fn}, which reads user_metadata: the user can edit it themself`,
        fix: `CREATE OR REPLACE FUNCTION ${row.fn} … -- decide on app_metadata or on a table the user cannot write`,
      });
    }
  }
}
