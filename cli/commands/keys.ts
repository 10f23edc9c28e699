import type { Command } from 'commander';
import { withClient } from '../../src/connection.js';
import { addKeysFromFile, listKeys, revokeKey } from '../../src/keys.js';
import { action, globalOptions, printJson, printLine } from '../output.js';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('static keys and HMAC secrets, listing and immediate revocation');

  keys
    .command('list')
    .description('list registered keys (never the secret bytes of HMAC keys)')
    .option('--provider <name>', 'only this provider\'s keys')
    .action(
      action(async (commandOptions: { provider?: string }, command: Command) => {
        const options = globalOptions(command);
        const rows = await withClient(options.databaseUrl, (client) => listKeys(client, commandOptions.provider));
        if (options.json) return printJson(rows);
        if (rows.length === 0) return printLine('no keys registered');
        for (const row of rows) {
          const until = row.status === 'retired' && row.verifyUntil ? ` until ${row.verifyUntil.toISOString()}` : '';
          printLine(`${row.provider}\t${row.kid ?? '(no kid)'}\t${row.alg}\t${row.status}${until}\t${row.source}\t${row.thumbprint}`);
        }
      }),
    );

  keys
    .command('add')
    .description('register the keys of a JWKS file (or a single JWK) for a provider, all or none')
    .requiredOption('--provider <name>', 'the provider; created when missing')
    .requiredOption('--file <jwks.json>', 'a JWK Set ({"keys": [...]}) or a single JWK')
    .option('--issuer <iss>', 'issuer of a provider created here (default: its name)')
    .option('--alg <alg>', 'algorithm for keys that do not name one (e.g. HS256 for an oct secret)')
    .addHelpText('after', '\nExample:\n  authdb keys add --provider local --issuer https://local.test --file secret.jwk.json --alg HS256')
    .action(
      action(async (commandOptions: { provider: string; file: string; issuer?: string; alg?: string }, command: Command) => {
        const options = globalOptions(command);
        const added = await withClient(options.databaseUrl, (client) => addKeysFromFile(client, commandOptions));
        if (options.json) return printJson({ provider: commandOptions.provider, added });
        for (const key of added) printLine(`added ${key.kty} key ${key.kid ?? '(no kid)'} (${key.alg}) to ${commandOptions.provider}`);
      }),
    );

  keys
    .command('revoke')
    .description('revoke a key at once: tokens it signed stop verifying immediately')
    .argument('<kid>', 'the key id')
    .option('--provider <name>', 'needed only when two providers share this kid')
    .action(
      action(async (kid: string, commandOptions: { provider?: string }, command: Command) => {
        const options = globalOptions(command);
        const count = await withClient(options.databaseUrl, (client) => revokeKey(client, kid, commandOptions.provider));
        if (options.json) return printJson({ kid, revoked: count });
        printLine(count > 0 ? `revoked key ${kid}` : `key ${kid} was already revoked`);
      }),
    );
}
