import type { Command } from 'commander';
import { withClient } from '../../src/connection.js';
import { migrateDown, migrateStatus, migrateUp } from '../../src/migrate.js';
import { action, globalOptions, printJson, printLine, progress } from '../output.js';

export function registerMigrate(program: Command): void {
  const migrate = program
    .command('migrate')
    .description('install or upgrade the auth schema (a no-op when up to date; safe to run concurrently)')
    .addHelpText('after', '\nExamples:\n  DATABASE_URL=postgres://… authdb migrate\n  authdb migrate status --json\n  authdb migrate down --count 1')
    .action(
      action(async (_options: object, command: Command) => {
        const options = globalOptions(command);
        const result = await withClient(options.databaseUrl, (client) =>
          migrateUp(client, options.json ? () => undefined : progress),
        );
        if (options.json) return printJson(result);
        if (result.migrations.length === 0 && !result.functionsUpdated) printLine(`auth schema ${result.version} is up to date`);
        else printLine(`auth schema ${result.version}: ${result.migrations.length} migration(s) applied${result.functionsUpdated ? ', functions installed' : ''}`);
      }),
    );

  migrate
    .command('status')
    .description('list applied and pending migrations and the installed version')
    .action(
      action(async (_options: object, command: Command) => {
        const options = globalOptions(command);
        const status = await withClient(options.databaseUrl, migrateStatus);
        if (options.json) return printJson(status);
        const method = status.installMethod ? ` by ${status.installMethod === 'extension' ? 'CREATE EXTENSION' : 'authdb migrate'}` : '';
        printLine(`installed: ${status.installedVersion ?? 'not installed'}${method} (package ${status.packageVersion})`);
        for (const migration of status.applied) printLine(`  applied  ${migration.name}  ${migration.runOn.toISOString()}`);
        for (const name of status.pending) printLine(`  pending  ${name}`);
        if (status.installedVersion && !status.functionsCurrent) printLine('  functions differ from this package: run `authdb migrate`');
      }),
    );

  migrate
    .command('down')
    .description('roll back the most recent migrations (the first one drops the auth schema; roles are kept)')
    .option('--count <n>', 'how many migrations to roll back', (value) => {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive whole number');
      return count;
    }, 1)
    .action(
      action(async (commandOptions: { count: number }, command: Command) => {
        const options = globalOptions(command);
        const result = await withClient(options.databaseUrl, (client) =>
          migrateDown(client, commandOptions.count, options.json ? () => undefined : progress),
        );
        if (options.json) return printJson(result);
        printLine(`rolled back ${result.migrations.length} migration(s)${result.version ? `; auth schema ${result.version} remains` : '; auth schema removed'}`);
      }),
    );
}
