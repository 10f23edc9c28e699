import type { Command } from 'commander';
import { withInstallation } from '../../src/installation.js';
import { runDoctor } from '../../src/doctor.js';
import { action, CommandFailure, globalOptions, printJson, printLine } from '../output.js';

/** Names and messages come from the database: control characters are printed escaped. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('lint the database: RLS leaks, request roles, login roles, policies, SECURITY DEFINER functions, providers, grants')
    .option('--app-role <role>', 'a login role the application connects as (repeatable); checked strictly', collect, [])
    .option('--strict', 'exit non-zero on warnings too')
    .addHelpText(
      'after',
      `
One line per finding: its severity, its code, what is wrong and the SQL (or command) that fixes
it. Read-only: it never changes the database. Exit 1 when a problem is found (with --strict, a
warning too); exit 0 otherwise.

Severities:
  problem   leaks rows or identities, lets a role act as another, or breaks authentication
  warning   a hazard or a cost that does not leak by itself
  info      worth knowing; fails closed

Checks: installed version and functions; the request roles authenticated/anonymous (RLS bypass,
LOGIN, TEMPORARY); the application's login roles (SET ROLE membership, superuser/BYPASSRLS, owned
tables, privileges of their own: after RESET ROLE a request acts as the login role); tables with
RLS off but open to the request roles, policies on tables without RLS, RLS without a policy; views
that read RLS tables with their owner's rights; policies calling auth.*() once per row, reading
settings (request.jwt.claims) or user_metadata; SECURITY DEFINER functions without a pinned
search_path ending in pg_temp; providers without usable keys, failing or stale syncs, sharing
subjects; privileges on the auth schema; who can read the sealing secret; session scope.
Every finding is described in docs/rls.md.

Run it as the auth schema owner or a superuser. Login roles checked: those given with --app-role
(name the application's login there), the connected role unless it is a superuser or the auth
schema owner, and every other login role that may connect to this database and is a member of
authenticated or anonymous.

Examples:
  authdb doctor
  authdb doctor --app-role app_login
  authdb doctor --json | jq '.findings[] | select(.severity == "problem") | .fix'
  DATABASE_URL=postgres://… authdb doctor --strict    # in CI`,
    )
    .action(
      action(async (commandOptions: { strict?: boolean; appRole: string[] }, command: Command) => {
        const options = globalOptions(command);
        const report = await withInstallation(options.databaseUrl, options.schema, (client) => runDoctor(client, { appRoles: commandOptions.appRole }));
        const failing = report.findings.filter((f) => f.severity === 'problem' || (commandOptions.strict && f.severity === 'warning'));
        if (options.json) printJson(report);
        else {
          printLine(`authdb ${report.installedVersion ?? 'not installed'} (package ${report.packageVersion}); checked: ${report.checked.join(', ')}`);
          for (const skip of report.skipped) printLine(`skipped ${skip.check}: ${skip.reason}`);
          for (const finding of report.findings) {
            printLine(printable(`${finding.severity} ${finding.code}: ${finding.message} -- fix: ${finding.fix}`));
          }
          if (report.findings.length === 0) printLine('no findings');
          else if (failing.length === 0) printLine('no problems found');
        }
        if (failing.length > 0) throw new CommandFailure(`doctor found ${failing.length} ${commandOptions.strict ? 'problem(s) or warning(s)' : 'problem(s)'}`);
      }),
    );
}
