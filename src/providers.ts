// The provider registry: add (with OIDC discovery and a first sync, all or nothing), update, list,
// remove; and the one statement that creates a provider row, whoever asks (provider add, keys add).
import { SUPPORTED_ALGORITHMS } from './algorithms.js';
import type pg from 'pg';
import { applyKeySet, type ApplyResult } from './jwks/apply.js';
import { checkFetchUrl, fetchDocument, FetchError, redactUrl, type FetchOptions } from './jwks/fetch.js';
import { DEFAULT_REFRESH_MAX_SECONDS, DEFAULT_REFRESH_MIN_SECONDS, fetchKeySet, refreshAfterSeconds } from './jwks/keyset.js';
import type { SkippedKey } from './jwks/parse.js';
import { printable } from './printable.js';
import { AuthdbError } from './errors.js';
import { inTransaction } from './transaction.js';

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

export { SUPPORTED_ALGORITHMS };

/** A setting's value is out of range or malformed: the caller's mistake (the CLI exits 2). */
export class InvalidSettingError extends AuthdbError {
  declare readonly code: 'invalid_option';
  constructor(message: string, hint?: string) {
    super('invalid_option', message, { hint });
  }
}

/** A named provider, key or setting does not exist, or a request names more than one. */
export class RegistryError extends AuthdbError {
  constructor(message: string, code: string, hint?: string) {
    super(code, message, { hint });
  }
}

/** What a DBA may set on a provider, when registering it and later (`provider update`). */
export interface ProviderSettings {
  /** Accepted `aud` values; replaces the list. Empty: `aud` is not checked. */
  audiences?: string[];
  /** The `alg` allow-list; absent: the algorithms of the provider's own keys. */
  algorithms?: string[];
  leewaySeconds?: number;
  /** Put in front of `sub` by auth.user_id() (docs/security.md, "Subjects across providers"). */
  subjectPrefix?: string;
  /** The provider's subjects are used bare: the DBA states that they name the same users as the first provider's. */
  sharedSubjects?: boolean;
  /** Migration 0007: the largest RSA modulus accepted for this provider (docs/security.md §12). */
  maxRsaBits?: number;
  /** Migration 0007: the most keys this provider may hold (docs/security.md §12). */
  maxKeys?: number;
  /** Migration 0012: tokens whose `iat` is older are rejected, whatever their `exp`; null removes it (docs/revocation.md). */
  maxTokenAgeSeconds?: number | null;
}

/** The bounds the schema enforces (CHECK constraints of 0001, 0006 and 0007), checked before any SQL. */
export const LIMITS = {
  leewaySeconds: { flag: '--leeway', min: 0, max: 3600 },
  maxRsaBits: { flag: '--max-rsa-bits', min: 2048, max: 8192 },
  maxKeys: { flag: '--max-keys', min: 1, max: 1000 },
  maxTokenAgeSeconds: { flag: '--max-token-age', min: 1, max: 315360000 },
} as const;

export const PROVIDER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkProviderName(name: string): void {
  if (!PROVIDER_NAME.test(name)) {
    throw new InvalidSettingError(`invalid provider name ${JSON.stringify(printable(name))}: 1 to 63 letters, digits, . _ -, starting with a letter or digit`);
  }
}

/** Throws InvalidSettingError for the first bad value. */
export function checkProviderSettings(settings: ProviderSettings): void {
  if (settings.audiences?.some((audience) => audience === '')) throw new InvalidSettingError('an audience must not be empty');
  if (settings.algorithms !== undefined) {
    if (settings.algorithms.length === 0) throw new InvalidSettingError('--algorithms needs at least one algorithm');
    const unknown = settings.algorithms.filter((alg) => !(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg));
    if (unknown.length > 0) {
      throw new InvalidSettingError(`unsupported algorithm(s) in --algorithms: ${unknown.map((alg) => printable(alg)).join(', ')}`,
        `supported: ${SUPPORTED_ALGORITHMS.join(' ')} (names are case-sensitive)`);
    }
  }
  for (const [field, limit] of Object.entries(LIMITS) as [keyof typeof LIMITS, (typeof LIMITS)[keyof typeof LIMITS]][]) {
    const value = settings[field];
    if (value !== undefined && value !== null && (!Number.isInteger(value) || value < limit.min || value > limit.max)) {
      throw new InvalidSettingError(`${limit.flag} must be a whole number from ${limit.min} to ${limit.max}`);
    }
  }
  if (settings.subjectPrefix !== undefined && settings.sharedSubjects) {
    throw new InvalidSettingError('give either --subject-prefix or --shared-subjects, not both');
  }
  const prefix = settings.subjectPrefix;
  if (prefix !== undefined && (prefix === '' || prefix.length > 64 || printable(prefix) !== prefix)) {
    throw new InvalidSettingError('--subject-prefix must be 1 to 64 characters, without control characters', 'for example --subject-prefix acme:');
  }
}

/** Refuses a subject prefix that another provider already has: their users would be one. */
async function checkPrefixIsFree(client: pg.ClientBase, providerId: string, prefix: string | null): Promise<void> {
  if (prefix === null) return;
  const { rows } = await client.query<{ name: string }>(
    'SELECT name FROM auth.providers WHERE subject_prefix = $1 AND id <> $2', [prefix, providerId]);
  if (rows[0]) {
    throw new RegistryError(`provider ${rows[0].name} already has the subject prefix ${JSON.stringify(printable(prefix))}`, 'duplicate_subject_prefix',
      'choose another with --subject-prefix, or --shared-subjects if both issuers name the same users');
  }
}

export interface NewProvider extends ProviderSettings {
  name: string;
  issuer: string;
  jwksUrl?: string | null;
}

/**
 * Creates a provider row; must run inside the caller's transaction. Subjects across providers
 * (docs/security.md): the first provider's `sub` is used bare; every later one gets a subject
 * prefix (default `NAME:`) unless it shares subjects. Whether a provider is the first is decided
 * inside the INSERT, under a lock that makes concurrent registrations take turns, so two providers
 * registered at once cannot both be "the first".
 */
export async function createProvider(client: pg.ClientBase, provider: NewProvider): Promise<{ id: string; subjectPrefix: string | null }> {
  checkProviderName(provider.name);
  checkProviderSettings(provider);
  if (provider.issuer === '') throw new InvalidSettingError('the issuer must not be empty');
  // SHARE ROW EXCLUSIVE conflicts with itself and with writers, not with readers: verification goes on.
  await client.query('LOCK TABLE auth.providers IN SHARE ROW EXCLUSIVE MODE');
  const columns: [string, unknown][] = [
    ['jwks_url', provider.jwksUrl ?? null],
    ['audiences', provider.audiences ?? []],
    ['algorithms', provider.algorithms ? [...new Set(provider.algorithms)] : null],
  ];
  if (provider.leewaySeconds !== undefined) columns.push(['leeway_seconds', provider.leewaySeconds]);
  if (provider.maxRsaBits !== undefined) columns.push(['max_rsa_bits', provider.maxRsaBits]);
  if (provider.maxKeys !== undefined) columns.push(['max_keys', provider.maxKeys]);
  if (provider.maxTokenAgeSeconds !== undefined) columns.push(['max_token_age_seconds', provider.maxTokenAgeSeconds]);
  const values = columns.map((_, index) => `$${index + 5}`);
  try {
    const { rows } = await client.query<{ id: string; subject_prefix: string | null }>(
      `INSERT INTO auth.providers (name, issuer, subject_prefix, ${columns.map(([column]) => column).join(', ')})
       SELECT $1, $2,
              CASE WHEN $3::boolean THEN NULL                                -- --shared-subjects
                   WHEN $4::text IS NOT NULL THEN $4::text                   -- --subject-prefix P
                   WHEN EXISTS (SELECT FROM auth.providers) THEN $1 || ':'   -- not the first provider
              END,
              ${values.join(', ')}
       RETURNING id, subject_prefix`,
      [provider.name, provider.issuer, provider.sharedSubjects ?? false, provider.subjectPrefix ?? null, ...columns.map(([, value]) => value)],
    );
    const created = { id: String(rows[0]!.id), subjectPrefix: rows[0]!.subject_prefix };
    await checkPrefixIsFree(client, created.id, created.subjectPrefix);
    return created;
  } catch (error) {
    const e = error as { code?: string; constraint?: string };
    if (e.code === '23505') {
      throw e.constraint === 'providers_issuer_key'
        ? new RegistryError(`another provider already has issuer ${printable(provider.issuer)}`, 'duplicate_issuer')
        : new RegistryError(`a provider named ${provider.name} already exists`, 'duplicate_provider');
    }
    throw error;
  }
}

export interface ProviderUpdate {
  provider: string;
  changed: string[];
  audiences: string[];
  algorithms: string[] | null;
  leewaySeconds: number;
  subjectPrefix: string | null;
  maxRsaBits: number;
  maxKeys: number;
  maxTokenAgeSeconds: number | null;
  /** Consequences worth a second look: keys that no longer verify, more keys than allowed. */
  warnings: string[];
}

/** Changes a provider's settings in one transaction; its keys stay. */
export async function updateProvider(client: pg.ClientBase, name: string, settings: ProviderSettings): Promise<ProviderUpdate> {
  checkProviderSettings(settings);
  const changes: [string, string, unknown][] = [];
  if (settings.audiences !== undefined) changes.push(['audiences', 'audiences', settings.audiences]);
  if (settings.algorithms !== undefined) changes.push(['algorithms', 'algorithms', [...new Set(settings.algorithms)]]);
  if (settings.leewaySeconds !== undefined) changes.push(['leeway_seconds', 'leewaySeconds', settings.leewaySeconds]);
  if (settings.subjectPrefix !== undefined) changes.push(['subject_prefix', 'subjectPrefix', settings.subjectPrefix]);
  if (settings.sharedSubjects) changes.push(['subject_prefix', 'subjectPrefix', null]);
  if (settings.maxRsaBits !== undefined) changes.push(['max_rsa_bits', 'maxRsaBits', settings.maxRsaBits]);
  if (settings.maxKeys !== undefined) changes.push(['max_keys', 'maxKeys', settings.maxKeys]);
  if (settings.maxTokenAgeSeconds !== undefined) changes.push(['max_token_age_seconds', 'maxTokenAgeSeconds', settings.maxTokenAgeSeconds]);
  if (changes.length === 0) {
    throw new InvalidSettingError('nothing to change', 'give at least one of --audience, --algorithms, --leeway, --subject-prefix, --shared-subjects, --max-rsa-bits, --max-keys, --max-token-age');
  }
  return inTransaction(client, async () => {
    if (settings.subjectPrefix !== undefined) await client.query('LOCK TABLE auth.providers IN SHARE ROW EXCLUSIVE MODE');
    const { rows } = await client.query(
      `UPDATE auth.providers SET ${changes.map(([column], index) => `${column} = $${index + 2}`).join(', ')}
        WHERE name = $1
        RETURNING id, audiences, algorithms, leeway_seconds, subject_prefix, max_rsa_bits, max_keys, max_token_age_seconds`,
      [name, ...changes.map(([, , value]) => value)],
    );
    const row = rows[0];
    if (!row) throw new RegistryError(`no provider named ${printable(name)}`, 'unknown_provider', 'see `authdb provider list`');
    await checkPrefixIsFree(client, String(row.id), row.subject_prefix);

    const warnings: string[] = [];
    const { rows: [keys] } = await client.query<{ algs: string[] | null; count: number }>(
      `SELECT pg_catalog.array_agg(DISTINCT alg ORDER BY alg) AS algs, pg_catalog.count(*)::int AS count
         FROM auth.keys WHERE provider_id = $1 AND status <> 'revoked'`, [row.id]);
    const orphaned = row.algorithms ? (keys?.algs ?? []).filter((alg) => !(row.algorithms as string[]).includes(alg)) : [];
    if (orphaned.length > 0) warnings.push(`the provider's ${orphaned.join(', ')} key(s) no longer verify: their algorithm is not in --algorithms`);
    if ((keys?.count ?? 0) > row.max_keys) warnings.push(`the provider holds ${keys!.count} keys, more than --max-keys ${row.max_keys}`);
    return {
      provider: name, changed: [...new Set(changes.map(([, field]) => field))],
      audiences: row.audiences, algorithms: row.algorithms, leewaySeconds: row.leeway_seconds,
      subjectPrefix: row.subject_prefix, maxRsaBits: row.max_rsa_bits, maxKeys: row.max_keys, maxTokenAgeSeconds: row.max_token_age_seconds, warnings,
    };
  });
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
    if (!options.issuer) throw new InvalidSettingError('--discover needs --issuer: the configuration is read from ISSUER/.well-known/openid-configuration');
    if (jwksUrl) throw new InvalidSettingError('give either --jwks-url or --discover, not both');
    const discovered = await discoverJwksUrl(options.issuer, fetchOptions);
    jwksUrl = discovered.jwksUrl;
    discoveredFrom = discovered.configurationUrl;
  }
  if (!jwksUrl) throw new InvalidSettingError('a JWKS URL is needed: --jwks-url URL, or --issuer ISS --discover');
  checkFetchUrl(jwksUrl, fetchOptions.allowHttp);
  const issuer = options.issuer ?? options.name;
  const shared = sharedJwksReason(jwksUrl, issuer);
  if (shared && audiences.length === 0) {
    throw new InvalidSettingError(`provider ${options.name} needs --audience: ${shared}, so without an audience check any of them would be accepted`);
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
      const { subjectPrefix } = await createProvider(client, { ...options, issuer, jwksUrl });
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
      return {
        provider: options.name, issuer, jwksUrl: redactUrl(jwksUrl), ...applied,
        skipped: [...keySet.skipped, ...applied.skipped], nextRefreshAt: rows[0]!.next_refresh_at, subjectPrefix,
      };
    });
  } catch (error) {
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
  leewaySeconds: number;
  /** NULL: the provider's `sub` is used bare by auth.user_id(). */
  subjectPrefix: string | null;
  maxRsaBits: number;
  maxKeys: number;
  /** NULL: no maximum token age (docs/revocation.md). */
  maxTokenAgeSeconds: number | null;
}

export async function listProviders(client: pg.ClientBase): Promise<ProviderSummary[]> {
  const { rows } = await client.query(
    `SELECT p.name, p.issuer, p.jwks_url, p.audiences, p.algorithms, p.grace_seconds,
            p.last_synced_at, p.last_error, p.last_error_at, p.next_refresh_at,
            p.leeway_seconds, p.subject_prefix, p.max_rsa_bits, p.max_keys, p.max_token_age_seconds,
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
    leewaySeconds: row.leeway_seconds,
    subjectPrefix: row.subject_prefix,
    maxRsaBits: row.max_rsa_bits,
    maxKeys: row.max_keys,
    maxTokenAgeSeconds: row.max_token_age_seconds,
  }));
}

/** Removes a provider and (by cascade) its keys; returns how many keys went with it. */
export async function removeProvider(client: pg.ClientBase, name: string): Promise<{ provider: string; keysRemoved: number }> {
  return inTransaction(client, async () => {
    const { rows } = await client.query<{ id: string }>('SELECT id FROM auth.providers WHERE name = $1 FOR UPDATE', [name]);
    if (!rows[0]) throw new RegistryError(`no provider named ${printable(name)}`, 'unknown_provider', 'see `authdb provider list`');
    const keys = await client.query('DELETE FROM auth.keys WHERE provider_id = $1', [rows[0].id]);
    await client.query('DELETE FROM auth.providers WHERE id = $1', [rows[0].id]);
    return { provider: name, keysRemoved: keys.rowCount ?? 0 };
  });
}
