// What `authdb doctor` reports, and the small helpers every family of checks shares.
// Severity ranks harm: a `problem` leaks rows or identities, lets one role act as another, or
// breaks authentication (exit 1); a `warning` is a hazard or a cost that does not leak by itself;
// `info` is worth knowing and fails closed.
import type pg from 'pg';

export type Severity = 'problem' | 'warning' | 'info';

export type CheckFamily = 'install' | 'roles' | 'logins' | 'providers' | 'rls' | 'views' | 'policies' | 'functions' | 'grants' | 'secrets';

export interface DoctorFinding {
  check: CheckFamily;
  /** Stable name of the finding (docs/rls.md lists them all), e.g. `rls_disabled_exposed`. */
  code: string;
  severity: Severity;
  message: string;
  /** The SQL (or the authdb command) that fixes it. */
  fix: string;
  /** What the finding is about (a role, a table, a policy, a provider), when there is one. */
  subject?: string;
}

/** Where the checks of one run put what they find. */
export interface DoctorContext {
  client: pg.ClientBase;
  /** The schema authdb is installed in, and the same as an identifier for SQL (quoted if need be). */
  authSchema: string;
  authSchemaSql: string;
  /** server_version_num, e.g. 140023. */
  serverVersion: number;
  /** Login roles the application connects as, named with --app-role. */
  appRoles: string[];
  findings: DoctorFinding[];
  checked: string[];
  skipped: { check: string; reason: string }[];
}

export function report(context: DoctorContext, finding: DoctorFinding): void {
  context.findings.push(finding);
}

/** The roles a request runs as (`SET LOCAL ROLE` in withAuth). */
export const AUTH_ROLES = ['authenticated', 'anonymous'] as const;

/**
 * Schemas that hold no application objects. Every query that lists user objects excludes them, and
 * the auth schema is checked by its own family (grants, secrets).
 */
export const SYSTEM_SCHEMAS_SQL = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`;

/** "a, b, c and 4 more": long lists stay one readable line. */
export function listed(names: string[], max = 5): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
