#!/usr/bin/env node
// authdb: JWT verification inside Postgres. This file only wires commander to src/, and holds
// the CLI's one failure path: every error ends as one line on stderr (exit 2 for usage, else 1).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CONNECT_TIMEOUT_SECONDS, setConnectTimeout } from '../src/connection.js';
import { packageVersion } from '../src/sources.js';
import { commandModules } from './commands/index.js';
import { schemaName, seconds } from './options.js';
import { parsingFinished, reportFailure, UsageError } from './output.js';

// `authdb … | head` closes the pipe early: stop quietly, as other command-line tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  fail(error);
});

const argv = process.argv.slice(2);
const wants = (flag: string) => argv.includes(flag);
function fail(error: unknown): void {
  reportFailure(error, { json: wants('--json'), verbose: wants('--verbose') });
}
// A last resort: an error outside any command's action (a connection dropped by the server, …).
process.on('uncaughtException', (error) => {
  fail(error);
  process.exit(process.exitCode ?? 1);
});
process.on('unhandledRejection', (error) => {
  fail(error);
  process.exit(process.exitCode ?? 1);
});

const program = new Command()
  .name('authdb')
  .description('JWT verification inside Postgres, so row-level security can trust auth.user_id()')
  .version(packageVersion())
  .option('--database-url <url>', 'Postgres connection string (default: DATABASE_URL, then the PG* variables)')
  .addOption(
    new Option('--connect-timeout <seconds>', `give up on a server that does not answer within this time; 0 waits forever (default: PGCONNECT_TIMEOUT, else ${DEFAULT_CONNECT_TIMEOUT_SECONDS})`).argParser(seconds),
  )
  .addOption(
    new Option('--schema <name>', 'the schema authdb is installed in; migrate installs there (default: the installation found in the database, else auth)').argParser(schemaName),
  )
  .option('--json', 'machine-readable output on stdout; a failure prints {"error":{"code","message","hint"}}')
  .option('--verbose', 'on failure, add the stack trace, SQLSTATE and DETAIL to the one-line message')
  .exitOverride()
  // commander's own messages become our one line (see the catch below)
  .configureOutput({ outputError: () => undefined })
  .addHelpText(
    'after',
    `
Start here:
  npx authdb dev              a local Postgres with authdb installed, a dev issuer and tokens
  npx authdb migrate --help   install authdb into your own database

Exit status: 0 success; 1 failure (one line on stderr); 2 usage error (a bad option or argument).`,
  )
  .hook('preAction', (_program, actionCommand) => {
    const { connectTimeout } = actionCommand.optsWithGlobals() as { connectTimeout?: number };
    const fromEnv = process.env.PGCONNECT_TIMEOUT;
    if (connectTimeout !== undefined) setConnectTimeout(connectTimeout);
    else if (fromEnv) {
      try {
        setConnectTimeout(seconds(fromEnv));
      } catch (error) {
        if (error instanceof InvalidArgumentError) throw new UsageError(`PGCONNECT_TIMEOUT '${fromEnv}' is invalid: ${error.message}`);
        throw error;
      }
    }
  });

for (const register of commandModules) register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // --help and --version end here with exit 0; a command with subcommands but none given printed its help
  if (error instanceof CommanderError && (error.exitCode === 0 || error.code === 'commander.help')) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (!parsingFinished() && !(error instanceof CommanderError) && error instanceof Error) {
    // an option's parser refused its value with a plain Error
    fail(new UsageError(error.message));
  } else {
    fail(error);
  }
}
