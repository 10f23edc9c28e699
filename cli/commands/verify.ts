import type { Command } from 'commander';
import { withInstallation } from '../../src/installation.js';
import { verifyToken } from '../../src/verify.js';
import { action, CommandFailure, escapeControl, globalOptions, printJson, UsageError } from '../output.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify a token inside the database; prints its claims, or the rejection code and DETAIL (exit 1)')
    .argument('<jwt>', 'the token (use - to read it from stdin, which keeps it out of the shell history)')
    .addHelpText(
      'after',
      `
Verification runs in the database, exactly as auth.init would run it. A rejection prints one line,
never the token: jwt rejected: CODE (DETAIL), where DETAIL says what the token said against what
was expected. Codes: docs/troubleshooting.md.

Examples:
  authdb verify "$TOKEN"
  pbpaste | authdb verify -
  authdb verify - --json < token.txt     # {"valid": true, "claims": {…}} or {"valid": false, "code", "detail", "error"}`,
    )
    .action(
      action(async (jwtArgument: string, _options: object, command: Command) => {
        const options = globalOptions(command);
        const jwt = jwtArgument === '-' ? (await readStdin()).trim() : jwtArgument;
        if (jwt === '') throw new UsageError('no token given (stdin was empty)');
        const outcome = await withInstallation(options.databaseUrl, options.schema, (client) => verifyToken(client, jwt));
        if (outcome.valid) return printJson(options.json ? outcome : outcome.claims);
        throw new CommandFailure(`jwt rejected: ${outcome.code}${outcome.detail ? ` (${escapeControl(outcome.detail)})` : ''}`, {
          code: 'jwt_rejected',
          hint: `see "${outcome.code}" in docs/troubleshooting.md`,
          output: { ...outcome },
        });
      }),
    );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
