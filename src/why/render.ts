// `authdb why` for people: the verdict per command first, then the policies that decided it,
// each with its expression and what it said, then what to do about a denial.
import type { ClauseReport, CommandReport, PolicyVerdict, WhyReport } from './explain.js';

const VERB: Record<string, string> = { select: 'read', insert: 'insert', update: 'update', delete: 'delete' };

function subject(report: WhyReport): string {
  const who = report.identity.userId ?? String(report.identity.claims.sub);
  const via = report.identity.source === 'token' ? 'verified token' : 'impersonated, no token';
  return `${who} (${report.identity.provider ? `provider ${report.identity.provider}, ` : ''}${via})`;
}

function scope(report: WhyReport): string {
  if (report.key) return `the row ${Object.entries(report.key).map(([column, value]) => `${column} = ${value}`).join(', ')}`;
  return `its ${report.rows} row${report.rows === 1 ? '' : 's'}`;
}

function rowSecurity(report: WhyReport): string {
  const rls = report.rowSecurity;
  if (!rls.enabled) return 'OFF: policies are ignored and authenticated reaches every row its grants allow (ALTER TABLE … ENABLE ROW LEVEL SECURITY)';
  if (rls.bypassRls) return 'on, but authenticated has BYPASSRLS: policies never apply to it (ALTER ROLE authenticated NOBYPASSRLS)';
  if (!rls.enforced) return `on but not forced, and authenticated has the privileges of the owner ${rls.owner}: policies do not apply to it (ALTER TABLE … FORCE ROW LEVEL SECURITY)`;
  return `on${rls.forced ? ', forced (binds the owner too)' : ''}; owner ${rls.owner}`;
}

function said(policy: PolicyVerdict, report: WhyReport): string {
  if (!policy.applies) return 'n/a';
  if (policy.expression === null) return '—';
  if (policy.error !== null) return 'error';
  if (report.key) return policy.admitted ? 'yes' : 'no';
  return `${policy.admitted}/${report.rows}`;
}

function policyLine(policy: PolicyVerdict, report: WhyReport): string {
  const mark = said(policy, report).padEnd(7);
  const head = `${mark} ${policy.mode.padEnd(11)} ${policy.name}`;
  if (!policy.applies) return `${head}  (not for authenticated: TO ${policy.roles.join(', ')})`;
  if (policy.expression === null) return `${head}  (no expression for this clause: admits nothing)`;
  const from = policy.fromUsing ? '  [WITH CHECK taken from USING]' : '';
  const error = policy.error !== null ? `\n            raised: ${policy.error}` : '';
  return `${head}\n            ${policy.expression}${from}${error}`;
}

function outcomeText(clause: ClauseReport, command: CommandReport, report: WhyReport): string {
  const name = command.command.toUpperCase();
  switch (clause.outcome) {
    case 'admitted': return report.key ? 'the row passes' : `all ${report.rows} rows pass`;
    case 'partly': return `${clause.admitted} of ${report.rows} rows pass${clause.vetoedBy.length ? ` (restrictive ${clause.vetoedBy.join(', ')} turned some away)` : ''}`;
    case 'default_deny': return `no permissive policy for ${name} applies to authenticated: with row-level security on, that denies every row (default deny)`;
    case 'no_permissive_match': return `no permissive policy admits ${report.key ? 'the row' : 'any row'}: at least one must say yes`;
    case 'restrictive_veto': return `vetoed by restrictive ${clause.vetoedBy.join(', ')}: a permissive policy says yes, but every restrictive one must too`;
    case 'error': return `a policy raised an error, so ${name} fails with it: ${clause.error}`;
    case 'not_enforced': return 'policies are not enforced for authenticated here (see row-level security above)';
    case 'no_rows': return 'the table is empty: nothing to test (pass --key once a row exists)';
  }
}

function privilegeText(command: CommandReport, report: WhyReport): string | null {
  const name = command.command.toUpperCase();
  if (!report.schemaUsage) return `authenticated has no USAGE on the table's schema: GRANT USAGE ON SCHEMA … TO authenticated`;
  if (!command.privilege.table && command.privilege.columns.length === 0) return `authenticated has no ${name} privilege: GRANT ${name} ON ${report.table} TO authenticated`;
  if (!command.privilege.table) return `${name} is granted on columns ${command.privilege.columns.join(', ')} only`;
  return null;
}

export function renderWhy(report: WhyReport): string[] {
  const lines = [`${report.table}, as ${subject(report)}, ${scope(report)}`, `row-level security: ${rowSecurity(report)}`, ''];
  for (const command of report.commands) {
    const verdict = command.allowed
      ? report.key ? 'allowed' : `allowed for ${command.admitted} of ${report.rows} rows`
      : 'DENIED';
    lines.push(`${command.command.toUpperCase().padEnd(7)} ${verdict}`);
    const privilege = privilegeText(command, report);
    if (privilege) lines.push(`  grant: ${privilege}`);
    for (const clause of command.clauses) {
      const label = clause.clause === 'using' ? 'USING' : 'WITH CHECK';
      const what = clause.clause === 'using'
        ? `rows authenticated may ${VERB[command.command]}`
        : `${command.command === 'insert' ? 'new rows it may write' : 'rows as they would be written'}, tested with ${report.key ? 'this row\'s' : 'each row\'s'} values`;
      lines.push(`  ${label}, ${what}: ${outcomeText(clause, command, report)}`);
      for (const policy of clause.policies) lines.push(`    ${policyLine(policy, report)}`);
    }
    if ((command.command === 'update' || command.command === 'delete') && command.allowed) {
      const select = report.commands.find((c) => c.command === 'select')!;
      if (select.admitted < command.admitted) lines.push('  note: a WHERE clause reads rows, so they must pass SELECT too, and fewer do');
    }
  }
  return lines;
}
