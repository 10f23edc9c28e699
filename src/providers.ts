// The provider registry: add (with OIDC discovery and a first sync, all or nothing), list, remove.
import type pg from 'pg';
import { applyKeySet, type ApplyResult } from './jwks/apply.js';
import { checkFetchUrl, fetchDocument, FetchError, redactUrl, type FetchOptions } from './jwks/fetch.js';
import { DEFAULT_REFRESH_MAX_SECONDS, DEFAULT_REFRESH_MIN_SECONDS, fetchKeySet, refreshAfterSeconds } from './jwks/keyset.js';
import type { SkippedKey } from './jwks/parse.js';

export interface ProviderConfig {
  id: string;
  name: string;
  issuer: string;
  jwksUrl: string | null;
  audiences: string[];
  algorithms: string[] | null;
  leewaySeconds: number;
  graceSeconds: number;
  refreshMinSeconds: number;
  refreshMaxSeconds: number;
  allowHttp: boolean;
  etag: string | null;
  lastModified: string | null;
}

const PROVIDER_COLUMNS = `id, name, issuer, jwks_url, audiences, algorithms, leeway_seconds, grace_seconds,
  refresh_min_seconds, refresh_max_seconds, allow_http, etag, last_modified`;

function toConfig(row: Record<string, unknown>): ProviderConfig {
  return {
    id: String(row.id),
    name: row.name as string,
    issuer: row.issuer as string,
    jwksUrl: row.jwks_url as string | null,
    audiences: row.audiences as string[],
    algorithms: row.algorithms as string[] | null,
    leewaySeconds: row.leeway_seconds as number,
    graceSeconds: row.grace_seconds as number,
    refreshMinSeconds: row.refresh_min_seconds as number,
    refreshMaxSeconds: row.refresh_max_seconds as number,
    allowHttp: row.allow_http as boolean,
    etag: row.etag as string | null,
    lastModified: row.last_modified as string | null,
  };
}

export async function getProvider(client: pg.ClientBase, name: string): Promise<ProviderConfig> {
  const { rows } = await client.query(`SELECT ${PROVIDER_COLUMNS} FROM auth.providers WHERE name = $1`, [name]);
  if (!rows[0]) throw new Error(`no provider named ${name}`);
  return toConfig(rows[0]);
}

/**
 * A provider counts as due this long before its next refresh time: a cron job started every
 * minute runs a little early or late against a schedule that was itself set a minute ago, and a
 * run that came a second early must not skip the provider for a whole minute.
 */
export const DUE_EARLY_SECONDS = 5;

/** Providers with a JWKS URL; with `dueOnly`, those whose next refresh time has come. */
export async function syncableProviders(client: pg.ClientBase, dueOnly: boolean): Promise<ProviderConfig[]> {
  const { rows } = await client.query(
    `SELECT ${PROVIDER_COLUMNS} FROM auth.providers
      WHERE jwks_url IS NOT NULL
        AND (NOT $1 OR next_refresh_at IS NULL OR next_refresh_at <= pg_catalog.now() + pg_catalog.make_interval(secs => $2))
      ORDER BY name`,
    [dueOnly, DUE_EARLY_SECONDS],
  );
  return rows.map(toConfig);
}

/** Seconds until the earliest next refresh among synced providers (0 when one is due now). */
export async function secondsUntilNextRefresh(client: pg.ClientBase): Promise<number | null> {
  // date_part, not EXTRACT: `extract(epoch FROM …)` is grammar and cannot be schema-qualified.
  const { rows } = await client.query<{ seconds: number | null }>(
    `SELECT CASE WHEN pg_catalog.bool_or(next_refresh_at IS NULL) THEN 0
                ELSE pg_catalog.date_part('epoch', pg_catalog.min(next_refresh_at) - pg_catalog.now()) END AS seconds
       FROM auth.providers WHERE jwks_url IS NOT NULL`,
  );
  const seconds = rows[0]?.seconds;
  if (seconds === null || seconds === undefined) return null;
  return Math.max(0, Number.isFinite(seconds) ? seconds : 0);
}

/**
 * JWKS shared by every customer of a platform: any of its tokens would verify, so a provider
 * using one must check `aud` (Google and Firebase, Apple, the Microsoft multi-tenant key set).
 */
const SHARED_JWKS_HOSTS = ['www.googleapis.com', 'googleapis.com', 'securetoken.google.com', 'accounts.google.com', 'appleid.apple.com', 'login.microsoftonline.com', 'login.windows.net'];
const SHARED_ISSUER_HOSTS = ['accounts.google.com', 'securetoken.google.com', 'appleid.apple.com'];

function hostOf(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/** The reason an audience is required for this provider, or null. */
export function sharedJwksReason(jwksUrl: string | null, issuer: string | null): string | null {
  const jwksHost = hostOf(jwksUrl);
  if (jwksHost && SHARED_JWKS_HOSTS.includes(jwksHost)) return `the keys at ${jwksHost} sign tokens for every customer of that platform`;
  const issuerHost = hostOf(issuer);
  if (issuerHost && SHARED_ISSUER_HOSTS.includes(issuerHost)) return `the issuer ${issuerHost} issues tokens for every customer of that platform`;
  return null;
}

/** OpenID Connect Discovery 1.0 §4: the jwks_uri of an issuer, whose document must name it exactly. */
export async function discoverJwksUrl(issuer: string, options: FetchOptions = {}): Promise<{ jwksUrl: string; configurationUrl: string }> {
  const configurationUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  checkFetchUrl(configurationUrl, options.allowHttp);
  const response = await fetchDocument(configurationUrl, { ...options, etag: null, lastModified: null });
  if (response.status !== 200) throw new FetchError(`${redactUrl(configurationUrl)}: unexpected HTTP ${response.status}`, false);
  let document: { issuer?: unknown; jwks_uri?: unknown };
  try {
    document = JSON.parse(response.body) as typeof document;
  } catch {
    throw new Error(`${redactUrl(configurationUrl)}: the OpenID configuration is not valid JSON`);
  }
  if (document?.issuer !== issuer) {
    throw new Error(`${redactUrl(configurationUrl)}: the OpenID configuration names issuer ${JSON.stringify(document?.issuer ?? null)}, not ${JSON.stringify(issuer)}`);
  }
  if (typeof document.jwks_uri !== 'string' || document.jwks_uri === '') {
    throw new Error(`${redactUrl(configurationUrl)}: the OpenID configuration has no jwks_uri`);
  }
  checkFetchUrl(document.jwks_uri, options.allowHttp);
  return { jwksUrl: document.jwks_uri, configurationUrl };
}

export interface AddProviderOptions {
  name: string;
  issuer?: string;
  jwksUrl?: string;
  discover?: boolean;
  audiences?: string[];
  algorithms?: string[];
  leewaySeconds?: number;
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
}

function checkSeconds(label: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${label} must be a whole number of seconds from ${min} to ${max}`);
}

/**
 * Registers a provider and syncs its keys once. The key set is fetched and parsed before anything
 * is written; then the provider and its keys are written in one transaction, so a failure leaves
 * nothing behind.
 */
export async function addProvider(client: pg.ClientBase, options: AddProviderOptions): Promise<AddProviderResult> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(options.name)) {
    throw new Error(`invalid provider name ${JSON.stringify(options.name)}: 1 to 63 letters, digits, . _ -, starting with a letter or digit`);
  }
  const audiences = options.audiences ?? [];
  if (audiences.some((audience) => audience === '')) throw new Error('an audience must not be empty');
  checkSeconds('--leeway', options.leewaySeconds, 0, 3600);
  checkSeconds('--grace', options.graceSeconds, 0, 2592000);
  checkSeconds('--refresh-min', options.refreshMinSeconds, 1, 2592000);
  checkSeconds('--refresh-max', options.refreshMaxSeconds, 1, 2592000);
  const refreshMin = options.refreshMinSeconds ?? DEFAULT_REFRESH_MIN_SECONDS;
  const refreshMax = options.refreshMaxSeconds ?? DEFAULT_REFRESH_MAX_SECONDS;
  if (refreshMin > refreshMax) throw new Error(`--refresh-min (${refreshMin}) is larger than --refresh-max (${refreshMax})`);
  const fetchOptions: FetchOptions = { ...options.fetch, allowHttp: options.allowHttp ?? false };

  let jwksUrl = options.jwksUrl;
  let discoveredFrom: string | null = null;
  if (options.discover) {
    if (!options.issuer) throw new Error('--discover needs --issuer: the configuration is read from ISSUER/.well-known/openid-configuration');
    if (jwksUrl) throw new Error('give either --jwks-url or --discover, not both');
    const discovered = await discoverJwksUrl(options.issuer, fetchOptions);
    jwksUrl = discovered.jwksUrl;
    discoveredFrom = discovered.configurationUrl;
  }
  if (!jwksUrl) throw new Error('a JWKS URL is needed: --jwks-url URL, or --issuer ISS --discover');
  checkFetchUrl(jwksUrl, fetchOptions.allowHttp);
  const issuer = options.issuer ?? options.name;
  const shared = sharedJwksReason(jwksUrl, issuer);
  if (shared && audiences.length === 0) {
    throw new Error(`provider ${options.name} needs --audience: ${shared}, so without an audience check any of them would be accepted`);
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

  await client.query('BEGIN');
  try {
    await client.query('SELECT auth.add_provider($1, $2, $3, $4, $5, $6)', [
      options.name, issuer, jwksUrl, audiences, options.algorithms ?? null, options.leewaySeconds ?? 30,
    ]);
    await client.query(
      `UPDATE auth.providers
          SET grace_seconds = $2, refresh_min_seconds = $3, refresh_max_seconds = $4, allow_http = $5, discovered_from = $6
        WHERE name = $1`,
      [options.name, options.graceSeconds ?? 3600, refreshMin, refreshMax, options.allowHttp ?? false, discoveredFrom],
    );
    const applied = await applyKeySet(client, options.name, keySet.keys);
    const { rows } = await client.query<{ next_refresh_at: Date }>(
      `UPDATE auth.providers
          SET etag = $2, last_modified = $3, last_synced_at = pg_catalog.now(),
              next_refresh_at = pg_catalog.now() + pg_catalog.make_interval(secs => $4)
        WHERE name = $1 RETURNING next_refresh_at`,
      [options.name, keySet.etag, keySet.lastModified, refreshAfter],
    );
    await client.query('COMMIT');
    return {
      provider: options.name, issuer, jwksUrl: redactUrl(jwksUrl), ...applied,
      skipped: [...keySet.skipped, ...applied.skipped], nextRefreshAt: rows[0]!.next_refresh_at,
    };
  } catch (error) {
    await client.query('ROLLBACK');
    const e = error as { code?: string; constraint?: string; message: string };
    if (e.code === '23505') {
      throw new Error(e.constraint === 'providers_issuer_key' ? `another provider already has issuer ${issuer}` : `a provider named ${options.name} already exists`);
    }
    throw error;
  }
}

export interface ProviderSummary {
  name: string;
  issuer: string;
  jwksUrl: string | null;
  audiences: string[];
  algorithms: string[] | null;
  graceSeconds: number;
  keys: { active: number; retired: number; revoked: number };
  lastSyncedAt: Date | null;
  lastError: string | null;
  lastErrorAt: Date | null;
  nextRefreshAt: Date | null;
}

export async function listProviders(client: pg.ClientBase): Promise<ProviderSummary[]> {
  const { rows } = await client.query(
    `SELECT p.name, p.issuer, p.jwks_url, p.audiences, p.algorithms, p.grace_seconds,
            p.last_synced_at, p.last_error, p.last_error_at, p.next_refresh_at,
            pg_catalog.count(k.id) FILTER (WHERE k.status = 'active')::int AS active,
            pg_catalog.count(k.id) FILTER (WHERE k.status = 'retired')::int AS retired,
            pg_catalog.count(k.id) FILTER (WHERE k.status = 'revoked')::int AS revoked
       FROM auth.providers AS p LEFT JOIN auth.keys AS k ON k.provider_id = p.id
      GROUP BY p.id ORDER BY p.name`,
  );
  return rows.map((row) => ({
    name: row.name,
    issuer: row.issuer,
    jwksUrl: row.jwks_url ? redactUrl(row.jwks_url) : null,
    audiences: row.audiences,
    algorithms: row.algorithms,
    graceSeconds: row.grace_seconds,
    keys: { active: row.active, retired: row.retired, revoked: row.revoked },
    lastSyncedAt: row.last_synced_at,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    nextRefreshAt: row.next_refresh_at,
  }));
}

/** Removes a provider and (by cascade) its keys; returns how many keys went with it. */
export async function removeProvider(client: pg.ClientBase, name: string): Promise<{ provider: string; keysRemoved: number }> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ id: string }>('SELECT id FROM auth.providers WHERE name = $1 FOR UPDATE', [name]);
    if (!rows[0]) throw new Error(`no provider named ${name}`);
    const keys = await client.query('DELETE FROM auth.keys WHERE provider_id = $1', [rows[0].id]);
    await client.query('DELETE FROM auth.providers WHERE id = $1', [rows[0].id]);
    await client.query('COMMIT');
    return { provider: name, keysRemoved: keys.rowCount ?? 0 };
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
