import { type Command, InvalidArgumentError } from 'commander';
import { withClient } from '../../src/connection.js';
import { addProvider, listProviders, removeProvider } from '../../src/providers.js';
import { action, globalOptions, printJson, printLine, progress } from '../output.js';

export function seconds(value: string): number {
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(number)) throw new InvalidArgumentError('expected a number of seconds');
  return number;
}

function wholeSeconds(value: string): number {
  const number = seconds(value);
  if (!Number.isInteger(number)) throw new InvalidArgumentError('expected a whole number of seconds');
  return number;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const list = (value: string): string[] => value.split(',').map((item) => item.trim()).filter(Boolean);

interface AddOptions {
  jwksUrl?: string;
  issuer?: string;
  discover?: boolean;
  audience?: string[];
  algorithms?: string[];
  leeway?: number;
  grace?: number;
  refreshMin?: number;
  refreshMax?: number;
  allowHttp?: boolean;
  timeout?: number;
}

export function registerProvider(program: Command): void {
  const provider = program.command('provider').description('identity providers: register (with their JWKS), list, remove');

  provider
    .command('add')
    .description('register a provider and sync its JWKS keys once (nothing is registered if that sync fails)')
    .argument('<name>', 'a short name: letters, digits, . _ -')
    .option('--jwks-url <url>', 'the provider\'s JWKS URL (https; http only for loopback or with --allow-http)')
    .option('--issuer <iss>', 'the exact "iss" of its tokens (default: the name)')
    .option('--discover', 'find the JWKS URL in ISSUER/.well-known/openid-configuration')
    .option('--audience <aud>', 'an accepted "aud" (repeatable); required for shared JWKS (Google, Firebase, Apple, Entra common)', collect)
    .option('--algorithms <list>', 'allowed algorithms, comma-separated (default: those of its keys)', list)
    .option('--leeway <seconds>', 'clock skew allowed on exp/nbf/iat (default 30)', wholeSeconds)
    .option('--grace <seconds>', 'how long a key removed from the JWKS keeps verifying (default 3600)', wholeSeconds)
    .option('--refresh-min <seconds>', 'shortest time between refreshes (default 300)', wholeSeconds)
    .option('--refresh-max <seconds>', 'longest time between refreshes (default 86400)', wholeSeconds)
    .option('--allow-http', 'accept a plain-http JWKS URL on a non-loopback host (not recommended)')
    .option('--timeout <seconds>', 'total time for each HTTP request (default 10)', seconds)
    .addHelpText(
      'after',
      `
Examples:
  authdb provider add auth0 --issuer https://TENANT.us.auth0.com/ --discover --audience https://api.example.com
  authdb provider add clerk --jwks-url https://CLERK_DOMAIN/.well-known/jwks.json --issuer https://CLERK_DOMAIN
  authdb provider add firebase --jwks-url https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com \\
      --issuer https://securetoken.google.com/PROJECT_ID --audience PROJECT_ID
  authdb provider add acme --jwks-url https://acme.example/jwks.json --issuer https://acme.example --audience api \\
      --algorithms RS256,ES256 --grace 7200

The keys stay fresh with \`authdb sync-jwks\` (cron) or \`authdb sync-jwks --watch\`.`,
    )
    .action(
      action(async (name: string, commandOptions: AddOptions, command: Command) => {
        const options = globalOptions(command);
        if (!commandOptions.issuer && !options.json) {
          progress(`warning: no --issuer given: tokens must carry "iss": "${name}" to match this provider`);
        }
        const result = await withClient(options.databaseUrl, (client) =>
          addProvider(client, {
            name,
            issuer: commandOptions.issuer,
            jwksUrl: commandOptions.jwksUrl,
            discover: commandOptions.discover,
            audiences: commandOptions.audience,
            algorithms: commandOptions.algorithms,
            leewaySeconds: commandOptions.leeway,
            graceSeconds: commandOptions.grace,
            refreshMinSeconds: commandOptions.refreshMin,
            refreshMaxSeconds: commandOptions.refreshMax,
            allowHttp: commandOptions.allowHttp,
            fetch: commandOptions.timeout ? { timeoutMs: commandOptions.timeout * 1000 } : {},
          }),
        );
        if (options.json) return printJson(result);
        for (const skip of result.skipped) progress(`warning: ${name}: skipped key ${skip.kid ?? '(no kid)'}: ${skip.reason}`);
        printLine(`added provider ${name} (issuer ${result.issuer}) with ${result.added} key(s) from ${result.jwksUrl}; next refresh ${result.nextRefreshAt.toISOString()}`);
      }),
    );

  provider
    .command('list')
    .description('providers with their key counts, last sync, last error and next refresh')
    .addHelpText('after', '\nExamples:\n  authdb provider list\n  authdb provider list --json | jq \'.[] | select(.lastError != null)\'')
    .action(
      action(async (_options: object, command: Command) => {
        const options = globalOptions(command);
        const rows = await withClient(options.databaseUrl, listProviders);
        if (options.json) return printJson(rows);
        if (rows.length === 0) return printLine('no providers registered');
        for (const row of rows) {
          const keys = `${row.keys.active} active, ${row.keys.retired} retired, ${row.keys.revoked} revoked`;
          const synced = row.jwksUrl ? `last sync ${row.lastSyncedAt?.toISOString() ?? 'never'}, next ${row.nextRefreshAt?.toISOString() ?? 'now'}` : 'static keys';
          const failing = row.lastErrorAt && (!row.lastSyncedAt || row.lastErrorAt > row.lastSyncedAt);
          printLine(`${row.name}\t${row.issuer}\t${keys}\t${synced}${failing ? `\tFAILING since ${row.lastErrorAt!.toISOString()}: ${row.lastError}` : ''}`);
        }
      }),
    );

  provider
    .command('remove')
    .description('remove a provider and all its keys (its tokens stop verifying at once)')
    .argument('<name>', 'the provider')
    .addHelpText('after', '\nExample:\n  authdb provider remove acme')
    .action(
      action(async (name: string, _options: object, command: Command) => {
        const options = globalOptions(command);
        const result = await withClient(options.databaseUrl, (client) => removeProvider(client, name));
        if (options.json) return printJson(result);
        printLine(`removed provider ${name} and its ${result.keysRemoved} key(s)`);
      }),
    );
}
