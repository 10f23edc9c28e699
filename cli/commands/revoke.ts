import type { Command } from 'commander';
import { withInstallation } from '../../src/installation.js';
import { printable } from '../../src/printable.js';
import { checkProviderName, InvalidSettingError } from '../../src/providers/registry.js';
import {
  listRevocations, pruneRevocations, revoke, type Revocation, type RevocationKind,
} from '../../src/revocations.js';
import { parseRevocationTime } from '../options.js';
import { globalOptions, printJson, printLine } from '../output.js';
import { action } from './provider.js';

const CLAIM: Record<RevocationKind, string> = { subject: 'sub', token: 'jti', session: 'sid' };

/** One line per entry: provider, kind, value, what it rejects, when prune may drop it. */
function describe(entry: Revocation): string {
  const what = entry.kind === 'subject'
    ? `tokens issued before ${entry.issuedBefore!.toISOString()}${entry.userId !== entry.value ? ` (auth.user_id() ${JSON.stringify(printable(entry.userId ?? ''))})` : ''}`
    : `every token with this ${CLAIM[entry.kind]}`;
  const expires = entry.expiresAt ? `prunable after ${entry.expiresAt.toISOString()}` : 'kept (the provider has no --max-token-age)';
  return `${entry.provider}\t${entry.kind}\t${printable(entry.value)}\t${what}\trevoked ${entry.revokedAt.toISOString()}\t${expires}`;
}

interface RevokeOptions {
  provider?: string;
  before?: string;
}

function requiredProvider(options: RevokeOptions): string {
  if (options.provider === undefined) throw new InvalidSettingError('--provider NAME is required', 'see `authdb provider list`');
  checkProviderName(options.provider);
  return options.provider;
}

export function registerRevoke(program: Command): void {
  const revokeCommand = program
    .command('revoke')
    .description('revoke a user\'s tokens, one token, or one OIDC session: rejected `revoked` at once, on standbys too');

  const subcommand = (name: string, kind: RevocationKind, argument: string, description: string, help: string) => {
    const command = revokeCommand
      .command(name)
      .description(description)
      .argument(`<${argument}>`, `the token's ${CLAIM[kind]} claim, exactly as the provider issues it`)
      .option('--provider <name>', 'the provider that issued the tokens (required)');
    if (kind === 'subject') {
      command.option('--before <time>', 'revoke the tokens issued before this moment (default now): ISO 8601 with an offset, or seconds since the epoch');
    }
    return command
      .addHelpText('after', help)
      .action(
        action(async (value: string, commandOptions: RevokeOptions, cmd: Command) => {
          const options = globalOptions(cmd);
          const provider = requiredProvider(commandOptions);
          const before = commandOptions.before === undefined ? undefined : parseRevocationTime(commandOptions.before);
          const entry = await withInstallation(options.databaseUrl, options.schema, (client) => revoke(client, kind, provider, value, before));
          if (options.json) return printJson(entry);
          printLine(kind === 'subject'
            ? `revoked ${CLAIM[kind]} ${JSON.stringify(printable(value))} of ${provider}: its tokens issued before ${entry.issuedBefore!.toISOString()} are rejected` +
              (entry.userId !== value ? ` (auth.user_id() ${JSON.stringify(printable(entry.userId ?? ''))})` : '')
            : `revoked ${CLAIM[kind]} ${JSON.stringify(printable(value))} of ${provider}: every token with it is rejected`);
        }),
      );
  };

  subcommand('user', 'subject', 'sub', 'reject every token of a user issued before a moment (default now); later sign-ins pass', `
SUB is the token's "sub" as the provider issued it (auth.session()->>'sub'), not auth.user_id()
with a subject prefix. A token issued before the moment, or one without "iat" (it cannot show that
it is newer), is rejected \`revoked\` by auth.init and auth.verify, in every backend at once, also
from the verified-token cache, and a session identity ends. Revoking again keeps the later moment.

Examples:
  authdb revoke user 8f14e45f-ceea-467f-a0e6-6c7a1f8e2b10 --provider auth0
  authdb revoke user alice --provider acme --before 2025-06-01T12:00:00Z
  authdb revoke user alice --provider acme --json`);

  subcommand('token', 'token', 'jti', 'reject one token, by its "jti" claim', `
Examples:
  authdb revoke token 0b6e1c3a-5d1f-4a41-9f0e-1e7d2c9b8a77 --provider acme`);

  subcommand('session', 'session', 'sid', 'reject every token of one OIDC sign-in session, by its "sid" claim', `
The "sid" claim (OpenID Connect session id) is the same in every token of one sign-in, refreshed
tokens included: this is the revocation a "log out this device" button wants.

Examples:
  authdb revoke session 08a5019c-17e1-4977-8f42-65a12843ea02 --provider keycloak`);

  const revocations = program.command('revocations').description('what is revoked, and pruning of entries no token can match any more');

  revocations
    .command('list')
    .description('revoked subjects, tokens and sessions, with when each may be pruned')
    .option('--provider <name>', 'only this provider\'s')
    .addHelpText('after', `
Values come from tokens (sub, jti, sid): control characters are shown escaped, as \\xNN or \\uNNNN.

Examples:
  authdb revocations list
  authdb revocations list --provider acme --json | jq '.[] | select(.kind == "subject")'`)
    .action(
      action(async (commandOptions: { provider?: string }, command: Command) => {
        const options = globalOptions(command);
        if (commandOptions.provider !== undefined) checkProviderName(commandOptions.provider);
        const entries = await withInstallation(options.databaseUrl, options.schema, (client) => listRevocations(client, commandOptions.provider));
        if (options.json) return printJson(entries);
        if (entries.length === 0) return printLine(commandOptions.provider ? `provider ${commandOptions.provider} has no revocations` : 'nothing is revoked');
        for (const entry of entries) printLine(describe(entry));
      }),
    );

  revocations
    .command('prune')
    .description('delete the entries no unexpired token can match any more (sync-jwks runs this too)')
    .addHelpText('after', `
An entry is dead once every token it matches is older than its provider's --max-token-age (plus
the leeway): those tokens are rejected \`expired\` anyway. Entries of a provider without a maximum
token age stay: nothing bounds how long its tokens live.

Examples:
  authdb revocations prune
  authdb revocations prune --json`)
    .action(
      action(async (_options: object, command: Command) => {
        const options = globalOptions(command);
        const result = await withInstallation(options.databaseUrl, options.schema, pruneRevocations);
        if (options.json) return printJson(result);
        printLine(`pruned ${result.removed} revocation(s); ${result.remaining} remain` +
          (result.unbounded > 0 ? ` (${result.unbounded} of providers without --max-token-age, kept)` : ''));
      }),
    );
}
