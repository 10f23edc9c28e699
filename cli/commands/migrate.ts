import { InvalidArgumentError, type Command } from 'commander';
import { withClient } from '../../src/connection.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, MigrateError, migrateDown, migrateStatus, migrateUp } from '../../src/migrate.js';
import { action, globalOptions, printJson, printLine, progress } from '../output.js';

const EXAMPLES = `
Examples:
  DATABASE_URL=postgres://… authdb migrate
  authdb migrate --lock-timeout 300       wait up to 5 minutes for a concurrent migrate
  authdb migrate --schema authdb          where auth is taken (Supabase, Neon's pg_session_jwt)
  authdb migrate status --json
  authdb migrate down --count 1
  authdb migrate down --count 99 --drop-dependents   remove authdb and your policies that use it

Run it as the role that should own the auth schema. It needs CREATEROLE the first time (it creates
the roles authenticated and anonymous unless they exist) and membership in both roles afterwards;
what is missing is reported with the GRANT that fixes it.`;

function seconds(value: string): number {
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(number)) throw new InvalidArgumentError('expected a number of seconds');
  return number;
}

function positiveCount(value: string): number {
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < 1) throw new InvalidArgumentError('expected a positive whole number');
  return count;
}

interface MigrateCommandOptions {
  lockTimeout: number;
}

/** --json failures of migrate carry the error's code and hint, and the objects it is about. */
function jsonFailure(error: unknown): boolean {
  if (!(error instanceof MigrateError)) return false;
  const cause = error.hint ? error.message.slice(0, error.message.length - error.hint.length - 2) : error.message;
  printJson({ error: { code: error.code, message: cause, hint: error.hint ?? null, ...(error.objects.length > 0 ? { objects: error.objects } : {}) } });
  process.exitCode = 1;
  return true;
}

export function registerMigrate(program: Command): void {
  const migrate = program
    .command('migrate')
    .description('install or upgrade the auth schema (a no-op when up to date; safe to run concurrently)')
    .option('--lock-timeout <seconds>', 'give up when another migrate holds the lock this long (names its pid)', seconds, DEFAULT_LOCK_TIMEOUT_SECONDS)
    .addHelpText('after', EXAMPLES)
    .action(
      action(async (_options: object, command: Command) => {
        const options = globalOptions(command);
        const { lockTimeout } = command.opts<MigrateCommandOptions>();
        let result;
        try {
          result = await withClient(options.databaseUrl, (client) =>
            migrateUp(client, { log: options.json ? () => undefined : progress, lockTimeoutSeconds: lockTimeout, schema: options.schema }),
          );
        } catch (error) {
          if (options.json && jsonFailure(error)) return;
          throw error;
        }
        if (options.json) return printJson(result);
        if (result.migrations.length === 0 && !result.functionsUpdated) printLine(`${result.schema} schema ${result.version} is up to date`);
        else printLine(`${result.schema} schema ${result.version}: ${result.migrations.length} migration(s) applied${result.functionsUpdated ? ', functions installed' : ''}`);
      }),
    );

  migrate
    .command('status')
    .description('list applied and pending migrations and the installed version')
    .action(
      action(async (_options: object, command: Command) => {
        const options = globalOptions(command);
        let status;
        try {
          status = await withClient(options.databaseUrl, (client) => migrateStatus(client, { schema: options.schema }));
        } catch (error) {
          if (options.json && jsonFailure(error)) return;
          throw error;
        }
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
    .option('--count <n>', 'how many migrations to roll back', positiveCount, 1)
    .option('--drop-dependents', 'also drop your objects that use the auth schema (RLS policies, column defaults, views); without it, down refuses and lists them')
    .action(
      action(async (commandOptions: { count: number; dropDependents?: boolean }, command: Command) => {
        const options = globalOptions(command);
        const { lockTimeout } = command.optsWithGlobals<MigrateCommandOptions>();
        let result;
        try {
          result = await withClient(options.databaseUrl, (client) =>
            migrateDown(client, commandOptions.count, {
              log: options.json ? () => undefined : progress,
              lockTimeoutSeconds: lockTimeout,
              dropDependents: commandOptions.dropDependents === true,
              schema: options.schema,
            }),
          );
        } catch (error) {
          if (options.json && jsonFailure(error)) return;
          // Each object on its own line on stdout; the failure itself stays one line on stderr.
          if (error instanceof MigrateError) for (const object of error.objects) printLine(object);
          throw error;
        }
        if (options.json) return printJson(result);
        printLine(`rolled back ${result.migrations.length} migration(s)${result.version ? `; ${result.schema} schema ${result.version} remains` : `; ${result.schema} schema removed`}`);
        for (const object of result.droppedDependents) printLine(`  dropped ${object}`);
      }),
    );
}
