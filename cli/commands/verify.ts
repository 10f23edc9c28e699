import type { Command } from 'commander';
import { withClient } from '../../src/connection.js';
import { verifyToken } from '../../src/verify.js';
import { action, CommandFailure, globalOptions, printJson } from '../output.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify a token inside the database; prints its claims, or the rejection code (exit 1)')
    .argument('<jwt>', 'the token (use - to read it from stdin, which keeps it out of the shell history)')
    .action(
      action(async (jwtArgument: string, _options: object, command: Command) => {
        const options = globalOptions(command);
        const jwt = jwtArgument === '-' ? (await readStdin()).trim() : jwtArgument;
        const outcome = await withClient(options.databaseUrl, (client) => verifyToken(client, jwt));
        if (options.json) printJson(outcome);
        else if (outcome.valid) printJson(outcome.claims);
        if (!outcome.valid) throw new CommandFailure(`jwt rejected: ${outcome.code}${outcome.detail ? ` (${outcome.detail})` : ''}`);
      }),
    );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
