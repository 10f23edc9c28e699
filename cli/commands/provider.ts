import { type Command, CommanderError, InvalidArgumentError } from 'commander';
import { withInstallation } from '../../src/installation.js';
import { printable } from '../../src/printable.js';
import { SUPPORTED_ALGORITHMS } from '../../src/algorithms.js';
import { addProvider } from '../../src/providers/add.js';
import {
  checkProviderName, InvalidSettingError, listProviders, RegistryError, removeProvider, updateProvider, type ProviderSettings,
} from '../../src/providers/registry.js';
import { KeyInputError } from '../../src/keys.js';
import { asFlags } from '../options.js';
import { action as reportingAction, CommandFailure, globalOptions, printJson, printLine, progress } from '../output.js';

/**
 * The library's errors as the CLI reports them: a bad option value is a usage error (exit 2); an
 * unknown or conflicting provider, key or input file is a failure (exit 1).
 */
export function cliError(error: unknown): unknown {
  if (error instanceof InvalidSettingError) return new CommanderError(2, 'authdb.usage', asFlags(error.message));
  if (error instanceof RegistryError || error instanceof KeyInputError) return new CommandFailure(error.message);
  return error;
}

/** `action` of ../output.js, with the library's errors mapped by cliError. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return reportingAction(async (...args: A) => {
    try {
      await run(...args);
    } catch (error) {
      throw cliError(error);
    }
  });
}

export function seconds(value: string): number {
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(number)) throw new InvalidArgumentError('expected a number of seconds');
  return number;
}

/** Option values are parsed in the action, so that a bad one is a usage error: one line, exit 2. */
function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new InvalidSettingError(`${flag} expects a whole number, not ${JSON.stringify(printable(value))}`);
  return Number(value);
}

function positiveSeconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}(\.\d+)?$/.test(value) || Number(value) <= 0) throw new InvalidSettingError(`${flag} expects a number of seconds, not ${JSON.stringify(printable(value))}`);
  return Number(value);
}

const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** `--max-token-age`: seconds, or a number with a unit (s, m, h, d); `none` removes the maximum. */
function tokenAge(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  const match = /^(\d{1,9})([smhd]?)$/.exec(value);
  if (!match) throw new InvalidSettingError(`--max-token-age expects seconds (or 15m, 12h, 7d) or none, not ${JSON.stringify(printable(value))}`);
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const list = (value: string): string[] => value.split(',').map((item) => item.trim()).filter(Boolean);

/** The options `provider add` and `provider update` share, as commander hands them over. */
interface SettingOptions {
  audience?: string[];
  algorithms?: string[];
  leeway?: string;
  subjectPrefix?: string;
  sharedSubjects?: boolean;
  maxRsaBits?: string;
  maxKeys?: string;
  maxTokenAge?: string;
}

function settingsFrom(options: SettingOptions): ProviderSettings {
  return {
    audiences: options.audience,
    algorithms: options.algorithms,
    leewaySeconds: wholeNumber('--leeway', options.leeway),
    subjectPrefix: options.subjectPrefix,
    sharedSubjects: options.sharedSubjects,
    maxRsaBits: wholeNumber('--max-rsa-bits', options.maxRsaBits),
    maxKeys: wholeNumber('--max-keys', options.maxKeys),
    maxTokenAgeSeconds: tokenAge(options.maxTokenAge),
  };
}

function addSettingOptions(command: Command, defaults: boolean): Command {
  const byDefault = (text: string): string => (defaults ? ` (default ${text})` : '');
  return command
    .option('--audience <aud>', `an accepted "aud" (repeatable${defaults ? '' : '; replaces the list'}); required for shared JWKS (Google, Firebase, Apple, Entra common)`, collect)
    .option('--algorithms <list>', `allowed algorithms, comma-separated, from ${SUPPORTED_ALGORITHMS.join(' ')}${byDefault('those of its keys')}`, list)
    .option('--leeway <seconds>', `clock skew allowed on exp/nbf/iat, 0 to 3600${byDefault('30')}`)
    .option('--subject-prefix <prefix>', `put before its tokens' sub by auth.user_id()${byDefault('NAME: for every provider but the first')}`)
    .option('--shared-subjects', 'use its sub bare: the DBA states that it names the same users as the first provider')
    .option('--max-rsa-bits <bits>', `largest RSA key accepted, 2048 to 8192${byDefault('4096')}`)
    .option('--max-keys <n>', `most keys it may hold, 1 to 1000${byDefault('32')}`)
    .option('--max-token-age <age>', `reject tokens whose iat is older, whatever their exp (seconds, or 15m, 12h, 7d; none removes it); lets \`revocations prune\` drop entries${byDefault('none')}`);
}

function subjects(prefix: string | null): string {
  return prefix === null ? 'sub used bare' : `sub prefixed with ${JSON.stringify(printable(prefix))}`;
}

interface AddOptions extends SettingOptions {
  jwksUrl?: string;
  issuer?: string;
  discover?: boolean;
  grace?: string;
  refreshMin?: string;
  refreshMax?: string;
  allowHttp?: boolean;
  timeout?: string;
}

export function registerProvider(program: Command): void {
  const provider = program.command('provider').description('identity providers: register (with their JWKS), list, remove');

  addSettingOptions(provider
    .command('add')
    .description('register a provider and sync its JWKS keys once (nothing is registered if that sync fails)')
    .argument('<name>', 'a short name: letters, digits, . _ -'), true)
    .option('--jwks-url <url>', 'the provider\'s JWKS URL (https; http only for loopback or with --allow-http)')
    .option('--issuer <iss>', 'the exact "iss" of its tokens (default: the name)')
    .option('--discover', 'find the JWKS URL in ISSUER/.well-known/openid-configuration')
    .option('--grace <seconds>', 'how long a key removed from the JWKS keeps verifying (default 3600)')
    .option('--refresh-min <seconds>', 'shortest time between refreshes (default 300)')
    .option('--refresh-max <seconds>', 'longest time between refreshes (default 86400)')
    .option('--allow-http', 'accept a plain-http JWKS URL on a non-loopback host (not recommended)')
    .option('--timeout <seconds>', 'total time for each HTTP request (default 10)')
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

Every provider after the first gets the subject prefix NAME: (auth.user_id() returns "NAME:<sub>"),
so its users cannot pass as another provider's; --subject-prefix chooses another, --shared-subjects none.
The keys stay fresh with \`authdb sync-jwks\` (cron) or \`authdb sync-jwks --watch\`.`,
    )
    .action(
      action(async (name: string, commandOptions: AddOptions, command: Command) => {
        const options = globalOptions(command);
        checkProviderName(name);
        const settings = settingsFrom(commandOptions);
        const grace = wholeNumber('--grace', commandOptions.grace);
        const refreshMin = wholeNumber('--refresh-min', commandOptions.refreshMin);
        const refreshMax = wholeNumber('--refresh-max', commandOptions.refreshMax);
        const timeout = positiveSeconds('--timeout', commandOptions.timeout);
        if (refreshMin !== undefined && refreshMax !== undefined && refreshMin > refreshMax) {
          throw new InvalidSettingError(`--refresh-min (${refreshMin}) is larger than --refresh-max (${refreshMax})`);
        }
        if (!commandOptions.issuer && !options.json) {
          progress(`warning: no --issuer given: tokens must carry "iss": "${name}" to match this provider`);
        }
        const result = await withInstallation(options.databaseUrl, options.schema, (client) =>
          addProvider(client, {
            ...settings,
            name,
            issuer: commandOptions.issuer,
            jwksUrl: commandOptions.jwksUrl,
            discover: commandOptions.discover,
            graceSeconds: grace,
            refreshMinSeconds: refreshMin,
            refreshMaxSeconds: refreshMax,
            allowHttp: commandOptions.allowHttp,
            fetch: timeout ? { timeoutMs: timeout * 1000 } : {},
          }),
        );
        if (options.json) return printJson(result);
        for (const skip of result.skipped) progress(`warning: ${name}: skipped key ${skip.kid === null ? '(no kid)' : printable(skip.kid)}: ${printable(skip.reason)}`);
        printLine(`added provider ${name} (issuer ${printable(result.issuer)}; ${subjects(result.subjectPrefix)}) with ${result.added} key(s) from ${printable(result.jwksUrl)}; next refresh ${result.nextRefreshAt.toISOString()}`);
      }),
    );

  addSettingOptions(provider
    .command('update')
    .description('change a provider\'s settings; its keys stay')
    .argument('<name>', 'the provider'), false)
    .addHelpText('after', `
Only the options given change. --audience replaces the whole list.

Examples:
  authdb provider update supabase --audience authenticated
  authdb provider update acme --algorithms RS256,ES256 --leeway 10
  authdb provider update partner --subject-prefix partner: # or --shared-subjects
  authdb provider update entra --max-rsa-bits 8192 --max-keys 64
  authdb provider update acme --max-token-age 12h`)
    .action(
      action(async (name: string, commandOptions: SettingOptions, command: Command) => {
        const options = globalOptions(command);
        checkProviderName(name);
        const settings = settingsFrom(commandOptions);
        const result = await withInstallation(options.databaseUrl, options.schema, (client) => updateProvider(client, name, settings));
        if (options.json) return printJson(result);
        for (const warning of result.warnings) progress(`warning: ${name}: ${asFlags(warning)}`);
        const audiences = result.audiences.length === 0 ? 'any aud' : `aud ${result.audiences.map((aud) => printable(aud)).join(', ')}`;
        printLine(`updated provider ${name} (${result.changed.join(', ')}): ${audiences}; algorithms ${result.algorithms?.join(',') ?? 'of its keys'}; ` +
          `leeway ${result.leewaySeconds} s; ${subjects(result.subjectPrefix)}; max RSA ${result.maxRsaBits} bits; max ${result.maxKeys} keys` +
          (result.maxTokenAgeSeconds === null ? '' : `; max token age ${result.maxTokenAgeSeconds} s`));
      }),
    );

  provider
    .command('list')
    .description('providers with their issuer, subject prefix, key counts, last sync, last error and next refresh')
    .addHelpText('after', `
Strings that come from outside (issuer, JWKS URL, the last sync error) are shown with control
characters escaped, as \\xNN or \\uNNNN.

Examples:
  authdb provider list
  authdb provider list --json | jq '.[] | select(.lastError != null)'`)
    .action(
      action(async (_options: object, command: Command) => {
        const options = globalOptions(command);
        const rows = await withInstallation(options.databaseUrl, options.schema, listProviders);
        if (options.json) return printJson(rows);
        if (rows.length === 0) return printLine('no providers registered');
        for (const row of rows) {
          const keys = `${row.keys.active} active, ${row.keys.retired} retired, ${row.keys.revoked} revoked`;
          const synced = row.jwksUrl ? `last sync ${row.lastSyncedAt?.toISOString() ?? 'never'}, next ${row.nextRefreshAt?.toISOString() ?? 'now'}` : 'static keys';
          const failing = row.lastErrorAt && (!row.lastSyncedAt || row.lastErrorAt > row.lastSyncedAt);
          const error = failing ? `\tFAILING since ${row.lastErrorAt!.toISOString()}: ${printable(row.lastError ?? '')}` : '';
          printLine(`${row.name}\t${printable(row.issuer)}\t${subjects(row.subjectPrefix)}\t${keys}\t${synced}${error}`);
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
        const result = await withInstallation(options.databaseUrl, options.schema, (client) => removeProvider(client, name));
        if (options.json) return printJson(result);
        printLine(`removed provider ${name} and its ${result.keysRemoved} key(s)`);
      }),
    );
}
