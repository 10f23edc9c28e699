// `authdb provider add`: register a provider (with OIDC discovery if asked) and sync its keys once,
// all or nothing.
import type pg from 'pg';
import type { ApplyResult } from '../jwks/apply.js';
import { checkFetchUrl, redactUrl, type FetchOptions } from '../jwks/fetch.js';
import { DEFAULT_REFRESH_MAX_SECONDS, DEFAULT_REFRESH_MIN_SECONDS, fetchKeySet, refreshAfterSeconds } from '../jwks/keyset.js';
import type { SkippedKey } from '../jwks/parse.js';
import { applyFetchedKeySet } from '../sync.js';
import { inTransaction } from '../transaction.js';
import { sharedJwksReason } from './audience.js';
import { discoverJwksUrl } from './discovery.js';
import { checkProviderName, checkProviderSettings, createProvider, InvalidSettingError, type ProviderSettings } from './registry.js';

export interface AddProviderOptions extends ProviderSettings {
  name: string;
  issuer?: string;
  jwksUrl?: string;
  discover?: boolean;
  graceSeconds?: number;
  refreshMinSeconds?: number;
  refreshMaxSeconds?: number;
  allowHttp?: boolean;
  /** HTTP settings for discovery and the first sync (timeouts, retries, size cap). */
  fetch?: FetchOptions;
}

export interface AddProviderResult extends ApplyResult {
  provider: string;
  issuer: string;
  jwksUrl: string;
  skipped: SkippedKey[];
  nextRefreshAt: Date;
  subjectPrefix: string | null;
}

function checkSeconds(label: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidSettingError(`${label} must be a whole number of seconds from ${min} to ${max}`);
}

/**
 * Registers a provider and syncs its keys once. The key set is fetched and parsed before anything
 * is written; then the provider and its keys are written in one transaction, so a failure leaves
 * nothing behind.
 */
export async function addProvider(client: pg.ClientBase, options: AddProviderOptions): Promise<AddProviderResult> {
  checkProviderName(options.name);
  checkProviderSettings(options);
  const audiences = options.audiences ?? [];
  checkSeconds('`graceSeconds`', options.graceSeconds, 0, 2592000);
  checkSeconds('`refreshMinSeconds`', options.refreshMinSeconds, 1, 2592000);
  checkSeconds('`refreshMaxSeconds`', options.refreshMaxSeconds, 1, 2592000);
  const refreshMin = options.refreshMinSeconds ?? DEFAULT_REFRESH_MIN_SECONDS;
  const refreshMax = options.refreshMaxSeconds ?? DEFAULT_REFRESH_MAX_SECONDS;
  if (refreshMin > refreshMax) throw new InvalidSettingError(`\`refreshMinSeconds\` (${refreshMin}) is larger than \`refreshMaxSeconds\` (${refreshMax})`);
  const fetchOptions: FetchOptions = { ...options.fetch, allowHttp: options.allowHttp ?? false };

  let jwksUrl = options.jwksUrl;
  let discoveredFrom: string | null = null;
  if (options.discover) {
    if (!options.issuer) throw new InvalidSettingError('`discover` needs `issuer`: the configuration is read from ISSUER/.well-known/openid-configuration');
    if (jwksUrl) throw new InvalidSettingError('give either `jwksUrl` or `discover`, not both');
    const discovered = await discoverJwksUrl(options.issuer, fetchOptions);
    jwksUrl = discovered.jwksUrl;
    discoveredFrom = discovered.configurationUrl;
  }
  if (!jwksUrl) throw new InvalidSettingError('a JWKS URL is needed: `jwksUrl` URL, or `issuer` ISS `discover`');
  checkFetchUrl(jwksUrl, fetchOptions.allowHttp);
  const issuer = options.issuer ?? options.name;
  const shared = sharedJwksReason(jwksUrl, issuer);
  if (shared && audiences.length === 0) {
    throw new InvalidSettingError(`provider ${options.name} needs \`audiences\`: ${shared}, so without an audience check any of them would be accepted`);
  }

  // Refuse a duplicate before fetching anything (the insert below re-checks under its constraints).
  const { rows: clashes } = await client.query<{ name: string; issuer: string }>(
    'SELECT name, issuer FROM auth.providers WHERE name = $1 OR issuer = $2', [options.name, issuer]);
  for (const clash of clashes) {
    throw new Error(clash.name === options.name ? `a provider named ${options.name} already exists` : `provider ${clash.name} already has issuer ${issuer}`);
  }

  const keySet = await fetchKeySet(jwksUrl, options.algorithms ?? null, fetchOptions);
  if (keySet.notModified) throw new Error(`${redactUrl(jwksUrl)}: unexpected 304 to an unconditional request`);
  const refreshAfter = refreshAfterSeconds(keySet.maxAgeSeconds, refreshMin, refreshMax);

  try {
    return await inTransaction(client, async () => {
      const { id, subjectPrefix } = await createProvider(client, { ...options, issuer, jwksUrl });
      await client.query(
        `UPDATE auth.providers
            SET grace_seconds = $2, refresh_min_seconds = $3, refresh_max_seconds = $4, allow_http = $5, discovered_from = $6
          WHERE name = $1`,
        [options.name, options.graceSeconds ?? 3600, refreshMin, refreshMax, options.allowHttp ?? false, discoveredFrom],
      );
      const { counts, skipped, nextRefreshAt } = await applyFetchedKeySet(client, { id, name: options.name }, keySet, refreshAfter);
      return { provider: options.name, issuer, jwksUrl: redactUrl(jwksUrl), ...counts, skipped, nextRefreshAt: nextRefreshAt!, subjectPrefix };
    });
  } catch (error) {
    const e = error as { code?: string; constraint?: string; message: string };
    if (e.code === '23505') {
      throw new Error(e.constraint === 'providers_issuer_key' ? `another provider already has issuer ${issuer}` : `a provider named ${options.name} already exists`);
    }
    throw error;
  }
}
