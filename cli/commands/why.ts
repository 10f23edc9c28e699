import type { Command } from 'commander';
import { Option } from 'commander';
import { withInstallation } from '../../src/installation.js';
import { explainWhy, renderWhy, WhyError, type WhyIdentity } from '../../src/why/index.js';
import { claimArgument, type Claims } from '../claims.js';
import { collect } from '../options.js';
import { action, CommandFailure, globalOptions, printJson, printLine, UsageError } from '../output.js';

interface WhyCommandOptions {
  as?: string;
  claim: Claims;
  token?: string;
  provider?: string;
  key: string[];
}

export function registerWhy(program: Command): void {
  program
    .command('why')
    .description('shows which policies let a user read or change a table (or one row), and which said no')
    .argument('<table>', 'the table: schema.table, or a name only one schema has')
    .addOption(new Option('--as <sub>', 'the user, by the sub claim (no token needed; the schema owner only)').conflicts('token'))
    .option('--claim <name=value>', 'a claim of that user, repeatable; JSON values stay typed (roles=["admin"])', claimArgument, {})
    .option('--token <jwt>', 'the user\'s token, verified as auth.init verifies it (use - to read it from stdin)')
    .option('--provider <name>', 'with --as: the provider the user belongs to (needed when several are registered)')
    .option('--key <value>', 'one row by primary key: --key 42, or --key COLUMN=VALUE for each column of a composite key', collect, [])
    .addHelpText(
      'after',
      `
For SELECT, INSERT, UPDATE and DELETE, lists every policy of the table for the role
authenticated, evaluates each USING and WITH CHECK expression as that user, and says which let the
row through and which said no: a restrictive policy that vetoes, no permissive policy at all
(default deny), an expression that raises, a missing grant, row-level security switched off.
Without --key it counts, per policy, how many of the table's rows it admits.

Nothing is changed: it runs in one transaction that is always rolled back, and the policies'
expressions run as authenticated, never with your privileges (docs/security.md). Run it as a
superuser, or as the owner of the auth schema who may also read the table past its policies.

Examples:
  authdb why --as alice public.todos
  authdb why --as alice --key 42 public.todos
  authdb why --as carol --claim tenant_id=acme --provider auth0 invoices --key 7
  authdb why --as bob --key org_id=3 --key doc_id=9 docs --json
  authdb why --token - public.todos --key 42 < token.txt`,
    )
    .action(
      action(async (table: string, options: WhyCommandOptions, command: Command) => {
        const global = globalOptions(command);
        const identity = await identityOf(options);
        try {
          const report = await withInstallation(global.databaseUrl, global.schema, (client) => explainWhy(client, { identity, table, key: options.key }));
          if (global.json) printJson(report);
          else renderWhy(report).forEach((line) => printLine(line));
        } catch (error) {
          if (error instanceof WhyError) throw new CommandFailure(error.message, { code: 'failed', hint: error.hint });
          throw error;
        }
      }),
    );
}

async function identityOf(options: WhyCommandOptions): Promise<WhyIdentity> {
  if (options.token !== undefined) {
    if (Object.keys(options.claim).length > 0 || options.provider !== undefined) throw new UsageError('--claim and --provider go with --as: a token carries its own claims and issuer');
    const token = options.token === '-' ? (await readStdin()).trim() : options.token;
    if (token === '') throw new UsageError('no token given (stdin was empty)');
    return { token };
  }
  if (options.as === undefined) throw new UsageError('say whose access to explain: --as SUB (with --claim NAME=VALUE…) or --token JWT');
  if (options.as === '') throw new UsageError('--as needs a non-empty subject');
  const claims = options.claim;
  if ('sub' in claims) throw new UsageError('give the subject with --as, not --claim sub=…');
  return { sub: options.as, claims, provider: options.provider };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
