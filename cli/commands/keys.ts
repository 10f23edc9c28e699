import type { Command } from 'commander';
import { withInstallation } from '../../src/installation.js';
import { addKeys, hmacJwk, listKeys, readHmacSecret, readJwksFile, revokeKeys, type AddKeysResult, type KeySummary } from '../../src/keys.js';
import { printable } from '../../src/printable.js';
import { SUPPORTED_ALGORITHMS } from '../../src/algorithms.js';
import { checkProviderName, checkProviderSettings, InvalidSettingError } from '../../src/providers/registry.js';
import { globalOptions, printJson, printLine, progress } from '../output.js';
import { action } from './provider.js';

interface AddOptions {
  provider?: string;
  file?: string;
  hmacSecretFile?: string;
  hmacSecretEnv?: string;
  kid?: string;
  issuer?: string;
  alg?: string;
  subjectPrefix?: string;
  sharedSubjects?: boolean;
}

const keyName = (key: KeySummary): string => (key.kid === null ? '(no kid)' : printable(key.kid));

function subjects(prefix: string | null): string {
  return prefix === null ? 'tokens\' sub used bare' : `sub prefixed with ${JSON.stringify(printable(prefix))}`;
}

function printAdded(result: AddKeysResult): void {
  const provider = result.provider;
  if (result.providerCreated) printLine(`created provider ${provider} (issuer ${printable(result.issuer)}; ${subjects(result.subjectPrefix)})`);
  for (const key of result.added) printLine(`added ${key.kty} key ${keyName(key)} (${key.alg}) to ${provider}; thumbprint ${key.thumbprint}`);
  for (const key of result.unchanged) {
    printLine(`${key.kty} key ${keyName(key)} (${key.alg}) is already registered for ${provider}${key.status === 'active' ? '' : ` (${key.status}: it stays ${key.status})`}`);
  }
}

/** Flags that exclude each other or depend on each other: usage errors (exit 2), before any connection. */
function checkAddOptions(options: AddOptions): void {
  if (options.provider === undefined) throw new InvalidSettingError('--provider NAME is required');
  checkProviderName(options.provider);
  const sources = [options.file, options.hmacSecretFile, options.hmacSecretEnv].filter((source) => source !== undefined);
  if (sources.length !== 1) throw new InvalidSettingError('give exactly one of --file JWKS, --hmac-secret-file FILE, --hmac-secret-env VAR');
  if (options.alg !== undefined && !(SUPPORTED_ALGORITHMS as readonly string[]).includes(options.alg)) {
    throw new InvalidSettingError(`unsupported algorithm ${printable(options.alg)}`, `supported: ${SUPPORTED_ALGORITHMS.join(' ')}`);
  }
  if (options.file === undefined && !/^HS(256|384|512)$/.test(options.alg ?? '')) {
    throw new InvalidSettingError('a shared secret needs --alg HS256, HS384 or HS512');
  }
  if (options.file !== undefined && options.kid !== undefined) throw new InvalidSettingError('--kid goes with a shared secret; a JWK names its own "kid"');
  if (options.issuer === '') throw new InvalidSettingError('--issuer must not be empty');
  checkProviderSettings({ subjectPrefix: options.subjectPrefix, sharedSubjects: options.sharedSubjects });
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('static keys and HMAC secrets, listing and immediate revocation');

  keys
    .command('list')
    .description('list registered keys: provider, kid, alg, status, source, RFC 7638 thumbprint (never the secret of an HMAC key)')
    .option('--provider <name>', 'only this provider\'s keys')
    .addHelpText('after', `
Control characters in a kid (it comes from the provider's JWKS) are shown escaped, as \\xNN or \\uNNNN.

Examples:
  authdb keys list
  authdb keys list --provider auth0 --json | jq -r '.[] | select(.status == "active") | .thumbprint'`)
    .action(
      action(async (commandOptions: { provider?: string }, command: Command) => {
        const options = globalOptions(command);
        const rows = await withInstallation(options.databaseUrl, options.schema, (client) => listKeys(client, commandOptions.provider));
        if (options.json) return printJson(rows);
        if (rows.length === 0) return printLine(commandOptions.provider ? `provider ${commandOptions.provider} has no keys` : 'no keys registered');
        for (const row of rows) {
          const until = row.status === 'retired' && row.verifyUntil ? ` until ${row.verifyUntil.toISOString()}` : '';
          printLine(`${row.provider}\t${row.kid === null ? '(no kid)' : printable(row.kid)}\t${row.alg}\t${row.status}${until}\t${row.source}\t${row.thumbprint}`);
        }
      }),
    );

  keys
    .command('add')
    .description('register static keys for a provider, all or none: a JWKS file, a single JWK, or a raw HMAC secret')
    .option('--provider <name>', 'the provider (required); created when missing')
    .option('--file <jwks.json>', 'a JWK Set ({"keys": [...]}) or a single JWK; public keys only (an "oct" JWK holds an HMAC secret)')
    .option('--hmac-secret-file <file>', 'a raw shared secret: the file\'s bytes (UTF-8 text) are the HMAC key; one trailing newline is ignored')
    .option('--hmac-secret-env <var>', 'a raw shared secret, from this environment variable (keeps it out of files and the shell history)')
    .option('--alg <alg>', 'algorithm for keys that do not name one; required with a secret: HS256, HS384 or HS512')
    .option('--kid <kid>', 'the kid of a shared secret (default: none; tokens without kid are tried against it)')
    .option('--issuer <iss>', 'exact "iss" of a provider created here (default: its name)')
    .option('--subject-prefix <prefix>', 'for a provider created here: put before its tokens\' sub in auth.user_id() (default: NAME: unless it is the first provider)')
    .option('--shared-subjects', 'for a provider created here: use its sub bare, as the same users as the first provider\'s')
    .addHelpText('after', `
A second run with the same keys changes nothing. A key that fails (private key material, a secret
shorter than the hash, a kid already taken) leaves nothing behind, not even a provider created here.

Examples:
  authdb keys add --provider local --issuer https://local.test --file secret.jwk.json --alg HS256
  authdb keys add --provider acme --file acme-public-jwks.json
  authdb keys add --provider supabase --issuer https://PROJECT_REF.supabase.co/auth/v1 \\
      --hmac-secret-file jwt-secret.txt --alg HS256
  authdb keys add --provider svc --hmac-secret-env SVC_JWT_SECRET --alg HS512 --kid svc-2025   # set by your secret manager`)
    .action(
      action(async (commandOptions: AddOptions, command: Command) => {
        const options = globalOptions(command);
        checkAddOptions(commandOptions);
        const common = {
          provider: commandOptions.provider!, issuer: commandOptions.issuer, alg: commandOptions.alg,
          subjectPrefix: commandOptions.subjectPrefix, sharedSubjects: commandOptions.sharedSubjects,
        };
        // the input is read and checked before a connection is opened
        const jwks = commandOptions.file === undefined
          ? [hmacJwk(await readHmacSecret({ file: commandOptions.hmacSecretFile, env: commandOptions.hmacSecretEnv }), commandOptions.alg!, commandOptions.kid)]
          : await readJwksFile(commandOptions.file);
        const result = await withInstallation(options.databaseUrl, options.schema, (client) => addKeys(client, jwks, common));
        if (options.json) return printJson(result);
        if (result.providerCreated && commandOptions.issuer === undefined) {
          progress(`warning: no --issuer given: tokens must carry "iss": "${result.provider}" to match this provider`);
        }
        printAdded(result);
      }),
    );

  keys
    .command('revoke')
    .description('revoke a key at once: tokens it signed stop verifying immediately, and a sync never brings it back')
    .argument('[kid]', 'the key id, as `keys list` shows it')
    .option('--thumbprint <tp>', 'the key\'s RFC 7638 thumbprint, as `keys list` shows it: for a key without kid')
    .option('--provider <name>', 'needed only when two providers hold the key')
    .addHelpText('after', `
Examples:
  authdb keys revoke 2024-06-key
  authdb keys revoke 2024-06-key --provider acme        # when another provider uses the same kid
  authdb keys revoke --thumbprint NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs`)
    .action(
      action(async (kid: string | undefined, commandOptions: { provider?: string; thumbprint?: string }, command: Command) => {
        const options = globalOptions(command);
        if (kid === undefined && commandOptions.thumbprint === undefined) {
          throw new InvalidSettingError('name the key: a KID, or --thumbprint TP for a key without kid', 'see `authdb keys list` for both');
        }
        if (kid !== undefined && commandOptions.thumbprint !== undefined) throw new InvalidSettingError('give either a KID or --thumbprint TP, not both');
        if (kid === '' || commandOptions.thumbprint === '') throw new InvalidSettingError('the kid or thumbprint must not be empty');
        const selector = kid === undefined ? { thumbprint: commandOptions.thumbprint! } : { kid };
        const result = await withInstallation(options.databaseUrl, options.schema, (client) => revokeKeys(client, selector, commandOptions.provider));
        if (options.json) return printJson(result);
        const name = kid === undefined ? `key with thumbprint ${printable(commandOptions.thumbprint!)}` : `key ${printable(kid)}`;
        printLine(result.revoked > 0 ? `revoked ${name} of ${result.provider}` : `${name} of ${result.provider} was already revoked`);
      }),
    );
}
