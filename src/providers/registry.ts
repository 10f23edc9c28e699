// The provider registry: the settings a DBA may give a provider and their checks, and create,
// update, list, remove. `createProvider` is the one statement that creates a provider row, whoever
// asks (`provider add` through addProvider, `keys add`).
import type pg from 'pg';
import { SUPPORTED_ALGORITHMS } from '../algorithms.js';
import { AuthdbError } from '../errors.js';
import { redactUrl } from '../jwks/fetch.js';
import { printable } from '../printable.js';
import { inTransaction } from '../transaction.js';

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
  leewaySeconds: { min: 0, max: 3600 },
  maxRsaBits: { min: 2048, max: 8192 },
  maxKeys: { min: 1, max: 1000 },
  maxTokenAgeSeconds: { min: 1, max: 315360000 },
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
    if (settings.algorithms.length === 0) throw new InvalidSettingError('`algorithms` needs at least one algorithm');
    const unknown = settings.algorithms.filter((alg) => !(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg));
    if (unknown.length > 0) {
      throw new InvalidSettingError(`unsupported algorithm(s) in \`algorithms\`: ${unknown.map((alg) => printable(alg)).join(', ')}`,
        `supported: ${SUPPORTED_ALGORITHMS.join(' ')} (names are case-sensitive)`);
    }
  }
  for (const [field, limit] of Object.entries(LIMITS) as [keyof typeof LIMITS, (typeof LIMITS)[keyof typeof LIMITS]][]) {
    const value = settings[field];
    if (value !== undefined && value !== null && (!Number.isInteger(value) || value < limit.min || value > limit.max)) {
      throw new InvalidSettingError(`\`${field}\` must be a whole number from ${limit.min} to ${limit.max}`);
    }
  }
  if (settings.subjectPrefix !== undefined && settings.sharedSubjects) {
    throw new InvalidSettingError('give either `subjectPrefix` or `sharedSubjects`, not both');
  }
  const prefix = settings.subjectPrefix;
  if (prefix !== undefined && (prefix === '' || prefix.length > 64 || printable(prefix) !== prefix)) {
    throw new InvalidSettingError('`subjectPrefix` must be 1 to 64 characters, without control characters', 'for example `subjectPrefix` acme:');
  }
}

/** Refuses a subject prefix that another provider already has: their users would be one. */
async function checkPrefixIsFree(client: pg.ClientBase, providerId: string, prefix: string | null): Promise<void> {
  if (prefix === null) return;
  const { rows } = await client.query<{ name: string }>(
    'SELECT name FROM auth.providers WHERE subject_prefix = $1 AND id <> $2', [prefix, providerId]);
  if (rows[0]) {
    throw new RegistryError(`provider ${rows[0].name} already has the subject prefix ${JSON.stringify(printable(prefix))}`, 'duplicate_subject_prefix',
      'choose another with `subjectPrefix`, or `sharedSubjects` if both issuers name the same users');
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
    throw new InvalidSettingError('nothing to change', 'give at least one of `audiences`, `algorithms`, `leewaySeconds`, `subjectPrefix`, `sharedSubjects`, `maxRsaBits`, `maxKeys`, `maxTokenAgeSeconds`');
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
    if (orphaned.length > 0) warnings.push(`the provider's ${orphaned.join(', ')} key(s) no longer verify: their algorithm is not in \`algorithms\``);
    if ((keys?.count ?? 0) > row.max_keys) warnings.push(`the provider holds ${keys!.count} keys, more than \`maxKeys\` ${row.max_keys}`);
    return {
      provider: name, changed: [...new Set(changes.map(([, field]) => field))],
      audiences: row.audiences, algorithms: row.algorithms, leewaySeconds: row.leeway_seconds,
      subjectPrefix: row.subject_prefix, maxRsaBits: row.max_rsa_bits, maxKeys: row.max_keys, maxTokenAgeSeconds: row.max_token_age_seconds, warnings,
    };
  });
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

/** Removes a provider and its keys (auth.remove_provider); returns how many keys went with it. */
export async function removeProvider(client: pg.ClientBase, name: string): Promise<{ provider: string; keysRemoved: number }> {
  try {
    const { rows } = await client.query<{ removed: number }>('SELECT auth.remove_provider($1) AS removed', [name]);
    return { provider: name, keysRemoved: rows[0]!.removed };
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if (e.code === '22023' && e.message?.startsWith('no provider named ')) {
      throw new RegistryError(`no provider named ${printable(name)}`, 'unknown_provider', 'see `authdb provider list`');
    }
    throw error;
  }
}
