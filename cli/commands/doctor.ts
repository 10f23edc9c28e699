import type { Command } from 'commander';
import { withClient } from '../../src/connection.js';
import { runDoctor } from '../../src/doctor.js';
import { action, CommandFailure, globalOptions, printJson, printLine } from '../output.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check an installation: schema version, pending migrations, providers, RLS policies, grants')
    .option('--strict', 'exit non-zero on warnings too')
    .addHelpText(
      'after',
      `
One line per finding, each with its fix. Exit 1 when a problem is found (with --strict, a warning
too); exit 0 when all is well. Read-only: it never changes the database.

Checks: installed version vs this package; pending migrations; providers without usable keys,
failing or stale key syncs; tables with RLS on but no policy, or RLS off but open to the auth
roles; policies for a role without privileges on their table; policies calling auth.*() once
per row; privileges of authenticated and anonymous.

Examples:
  authdb doctor
  authdb doctor --json | jq '.findings[] | select(.severity == "problem")'
  DATABASE_URL=postgres://… authdb doctor --strict    # in CI`,
    )
    .action(
      action(async (commandOptions: { strict?: boolean }, command: Command) => {
        const options = globalOptions(command);
        const report = await withClient(options.databaseUrl, runDoctor);
        const failing = report.findings.filter((f) => f.severity === 'problem' || (commandOptions.strict && f.severity === 'warning'));
        if (options.json) printJson(report);
        else {
          printLine(`authdb ${report.installedVersion ?? 'not installed'} (package ${report.packageVersion}); checked: ${report.checked.join(', ')}`);
          for (const skip of report.skipped) printLine(`skipped ${skip.check}: ${skip.reason}`);
          for (const finding of report.findings) printLine(`${finding.severity}: ${finding.message} -- fix: ${finding.fix}`);
          if (report.findings.length === 0) printLine('no problems found');
        }
        if (failing.length > 0) throw new CommandFailure(`doctor found ${failing.length} ${commandOptions.strict ? 'problem(s) or warning(s)' : 'problem(s)'}`);
      }),
    );
}
