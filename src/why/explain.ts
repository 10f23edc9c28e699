// `authdb why`: for one user and one table (and optionally one row), which policies let the row
// through for SELECT, INSERT, UPDATE and DELETE, which said no, and what else stands in the way
// (row-level security off, missing grants, default deny). Postgres's rules, as documented in
// "Policies Applied by Command Type" (CREATE POLICY): a row passes a clause when at least one
// applicable permissive policy's expression is true and every applicable restrictive one is.
import type pg from 'pg';
import { COMMANDS, resolveTable, tableFacts, tablePolicies, type Command, type PolicyFacts, type TableFacts } from './catalog.js';
import { assumeIdentity, type WhyIdentity, type AssumedIdentity } from './identity.js';
import { WhyError } from './errors.js';
import { parseKey } from './key.js';
import { openSandbox, type Sandbox } from './sandbox.js';
import { inTransaction } from '../transaction.js';

export type Clause = 'using' | 'with check';

export interface PolicyVerdict {
  name: string;
  mode: 'permissive' | 'restrictive';
  command: Command | 'all';
  roles: string[];
  /** Whether the policy applies to authenticated at all; one that does not is listed, not evaluated. */
  applies: boolean;
  /** The expression tested for this clause; null when the policy has none for it. */
  expression: string | null;
  /** A WITH CHECK taken from USING, as Postgres does when a policy has no WITH CHECK. */
  fromUsing: boolean;
  /** Rows the expression is true for (0 or 1 with --key); null when not evaluated. */
  admitted: number | null;
  /** The error the expression raised: a query by this user raises it too. */
  error: string | null;
}

/**
 * How a clause ended. `admitted`: every row tested passed; `partly`: some did (no --key);
 * `default_deny`: no permissive policy applies; `no_permissive_match`: none admits the row(s);
 * `restrictive_veto`: a permissive one admits but a restrictive one says no; `error`: an
 * expression raised; `not_enforced`: row-level security does not apply to authenticated here.
 */
export type Outcome = 'admitted' | 'partly' | 'default_deny' | 'no_permissive_match' | 'restrictive_veto' | 'error' | 'not_enforced' | 'no_rows';

export interface ClauseReport {
  clause: Clause;
  policies: PolicyVerdict[];
  /** Rows the combined policies admit. */
  admitted: number | null;
  outcome: Outcome;
  /** Restrictive policies that turned away rows the permissive ones admitted. */
  vetoedBy: string[];
  error: string | null;
}

export interface PrivilegeReport {
  /** The privilege on the whole table. */
  table: boolean;
  /** Without it: the columns granted one by one (SELECT, INSERT, UPDATE only). */
  columns: string[];
}

export interface CommandReport {
  command: Command;
  privilege: PrivilegeReport;
  clauses: ClauseReport[];
  /** Rows this user may read / write / delete this way (with --key: 0 or 1); for INSERT, rows that would pass as new rows. */
  admitted: number;
  allowed: boolean;
  /** Stable reason codes, most fundamental first: no_schema_usage, no_privilege, column_privileges_only, or the clauses' outcomes. */
  reasons: string[];
}

export interface WhyReport {
  table: string;
  identity: AssumedIdentity;
  key: Record<string, string> | null;
  /** Rows tested: 1 with --key, else the table's rows. */
  rows: number;
  rowSecurity: {
    enabled: boolean;
    forced: boolean;
    owner: string;
    /** Whether the policies bind authenticated: on, and authenticated neither owns the table (unless forced) nor has BYPASSRLS. */
    enforced: boolean;
    ownedByAuthenticated: boolean;
    bypassRls: boolean;
  };
  schemaUsage: boolean;
  commands: CommandReport[];
}

export interface WhyOptions {
  identity: WhyIdentity;
  /** Schema-qualified or a name only one user schema has. */
  table: string;
  /** `--key` arguments; absent: count over the whole table. */
  key?: string[];
}

/** Which clauses a command checks (CREATE POLICY, "Policies Applied by Command Type"). */
const CLAUSES: Record<Command, Clause[]> = { select: ['using'], insert: ['with check'], update: ['using', 'with check'], delete: ['using'] };
const PRIVILEGE: Record<Command, 'select' | 'insert' | 'update' | null> = { select: 'select', insert: 'insert', update: 'update', delete: null };

function expressionFor(policy: PolicyFacts, clause: Clause): { expression: string | null; fromUsing: boolean } {
  if (clause === 'using') return { expression: policy.using, fromUsing: false };
  // "If only a USING clause is specified, then that clause will be used for both USING and WITH CHECK cases."
  if (policy.withCheck === null && policy.command !== 'insert' && policy.using !== null) return { expression: policy.using, fromUsing: true };
  return { expression: policy.withCheck, fromUsing: false };
}

const both = (expressions: string[]): string => expressions.map((e) => `(${e})`).join(' AND ');
const either = (expressions: string[]): string => expressions.map((e) => `(${e})`).join(' OR ');

/** The clause's combined condition as Postgres applies it; 'false' under default deny. */
function combined(policies: PolicyVerdict[]): string {
  const live = policies.filter((p) => p.applies && p.expression !== null);
  const permissive = live.filter((p) => p.mode === 'permissive').map((p) => p.expression!);
  const restrictive = live.filter((p) => p.mode === 'restrictive').map((p) => p.expression!);
  if (permissive.length === 0) return 'false';
  return both([either(permissive), ...restrictive]);
}

async function explainClause(sandbox: Sandbox, policies: PolicyFacts[], command: Command, clause: Clause, enforced: boolean): Promise<{ report: ClauseReport; condition: string }> {
  const verdicts: PolicyVerdict[] = [];
  for (const policy of policies.filter((p) => p.command === command || p.command === 'all')) {
    const { expression, fromUsing } = expressionFor(policy, clause);
    const verdict: PolicyVerdict = { name: policy.name, mode: policy.mode, command: policy.command, roles: policy.roles, applies: policy.applies, expression, fromUsing, admitted: null, error: null };
    if (policy.applies && expression !== null) {
      const result = await sandbox.count(expression);
      if ('error' in result) verdict.error = result.error;
      else verdict.admitted = result.admitted;
    }
    verdicts.push(verdict);
  }
  const report: ClauseReport = { clause, policies: verdicts, admitted: null, outcome: 'admitted', vetoedBy: [], error: null };
  if (!enforced) {
    report.admitted = sandbox.rows;
    report.outcome = 'not_enforced';
    return { report, condition: 'true' };
  }
  const condition = combined(verdicts);
  const live = verdicts.filter((p) => p.applies && p.expression !== null);
  const failed = live.find((p) => p.error !== null);
  if (failed) {
    report.outcome = 'error';
    report.error = `${failed.name}: ${failed.error}`;
    report.admitted = 0;
    return { report, condition };
  }
  const result = condition === 'false' ? { admitted: 0 } : await sandbox.count(condition);
  if ('error' in result) {
    report.outcome = 'error';
    report.error = result.error;
    report.admitted = 0;
    return { report, condition };
  }
  report.admitted = result.admitted;
  const permissiveAdmit = Math.max(0, ...live.filter((p) => p.mode === 'permissive').map((p) => p.admitted ?? 0));
  report.vetoedBy = live.filter((p) => p.mode === 'restrictive' && (p.admitted ?? 0) < sandbox.rows && permissiveAdmit > 0).map((p) => p.name);
  if (!live.some((p) => p.mode === 'permissive')) report.outcome = 'default_deny';
  else if (sandbox.rows === 0) report.outcome = 'no_rows';
  else if (result.admitted === sandbox.rows) report.outcome = 'admitted';
  else if (permissiveAdmit === 0) report.outcome = 'no_permissive_match';
  else if (result.admitted === 0) report.outcome = 'restrictive_veto';
  else report.outcome = 'partly';
  if (report.outcome === 'admitted') report.vetoedBy = [];
  return { report, condition };
}

function privilegeOf(table: TableFacts, command: Command): PrivilegeReport {
  const column = PRIVILEGE[command];
  const granted = table.tablePrivileges[command];
  return { table: granted, columns: granted || !column ? [] : table.columns.filter((c) => c.privileges[column]).map((c) => c.name) };
}

export async function explainWhy(client: pg.ClientBase, options: WhyOptions): Promise<WhyReport> {
  // nothing of this transaction survives: not the identity, not the copy, not what policies did
  return inTransaction(client, async () => {
    const identity = await assumeIdentity(client, options.identity);
    const table = await tableFacts(client, await resolveTable(client, options.table));
    const key = options.key && options.key.length > 0 ? parseKey(options.key, table.name, table.primaryKey) : undefined;
    const policies = await tablePolicies(client, table.oid);
    const enforced = table.rowSecurity && !table.targetBypassesRls && (!table.targetOwnsTable || table.forceRowSecurity);
    const sandbox = await openSandbox(client, table, key);
    if (key && sandbox.rows === 0) {
      throw new WhyError('no_such_row', `no row of ${table.name} has ${key.map((part) => `${part.column.name} = ${part.value}`).join(' and ')}`);
    }
    const commands: CommandReport[] = [];
    for (const command of COMMANDS) {
      const clauses: ClauseReport[] = [];
      const conditions: string[] = [];
      for (const clause of CLAUSES[command]) {
        const { report, condition } = await explainClause(sandbox, policies, command, clause, enforced);
        clauses.push(report);
        conditions.push(condition);
      }
      let admitted = clauses[0]!.admitted ?? 0;
      if (clauses.length > 1 && clauses.every((c) => c.outcome !== 'error')) {
        const together = enforced ? await sandbox.count(both(conditions)) : { admitted: sandbox.rows };
        admitted = 'error' in together ? 0 : together.admitted;
      } else if (clauses.some((c) => c.outcome === 'error')) admitted = 0;
      const privilege = privilegeOf(table, command);
      const reasons: string[] = [];
      if (!table.schemaUsage) reasons.push('no_schema_usage');
      if (!privilege.table && privilege.columns.length === 0) reasons.push('no_privilege');
      else if (!privilege.table) reasons.push('column_privileges_only');
      for (const clause of clauses) if (!reasons.includes(clause.outcome)) reasons.push(clause.outcome);
      const permitted = table.schemaUsage && (privilege.table || privilege.columns.length > 0);
      commands.push({ command, privilege, clauses, admitted: permitted ? admitted : 0, allowed: permitted && admitted > 0, reasons });
    }
    return {
      table: table.name,
      identity,
      key: key ? Object.fromEntries(key.map((part) => [part.column.name, part.value])) : null,
      rows: sandbox.rows,
      rowSecurity: {
        enabled: table.rowSecurity,
        forced: table.forceRowSecurity,
        owner: table.owner,
        enforced,
        ownedByAuthenticated: table.targetOwnsTable,
        bypassRls: table.targetBypassesRls,
      },
      schemaUsage: table.schemaUsage,
      commands,
    };
  }, { rollback: true });
}
