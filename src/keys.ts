// The key store seen from Node: register static keys (a JWKS file, or a raw HMAC secret), list
// them, revoke them. Validation and precomputation happen in SQL (auth.add_key), so every install
// path shares them; this module decides what one `keys add` means: all of it, or none of it.
import { ALGORITHMS } from './algorithms.js';
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { printable } from './printable.js';
import { createProvider, InvalidSettingError, RegistryError, type ProviderSettings } from './providers/registry.js';
import { AuthdbError } from './errors.js';
import { inTransaction } from './transaction.js';

export interface KeyRow {
  provider: string;
  kid: string | null;
  alg: string;
  kty: string;
  status: 'active' | 'retired' | 'revoked';
  source: 'static' | 'jwks';
  thumbprint: string;
  createdAt: Date;
  verifyUntil: Date | null;
  revokedAt: Date | null;
}

/** A key as `keys add` reports it: never its secret. */
export interface KeySummary {
  kid: string | null;
  alg: string;
  kty: string;
  /** RFC 7638 thumbprint (for `oct` keys: the key's MAC over a fixed label), as `keys list` shows it. */
  thumbprint: string;
  status: 'active' | 'retired' | 'revoked';
}

/** The 0.1 name of KeySummary. */
export type AddedKey = KeySummary;

export interface AddKeysResult {
  provider: string;
  /** True when this `keys add` created the provider. */
  providerCreated: boolean;
  issuer: string;
  /** NULL: the provider's `sub` is used bare by auth.user_id(). */
  subjectPrefix: string | null;
  added: KeySummary[];
  /** Keys that were registered already, with this kid and algorithm: a second run changes nothing. */
  unchanged: KeySummary[];
}

export interface AddKeysOptions extends Pick<ProviderSettings, 'subjectPrefix' | 'sharedSubjects'> {
  provider: string;
  /** Issuer of a provider created here (default: its name); must match an existing provider's. */
  issuer?: string;
  /** Algorithm for keys that do not name one (e.g. HS256 for an `oct` secret). */
  alg?: string;
}

/** A file or secret the user pointed at cannot be used; nothing was written. */
export class KeyInputError extends AuthdbError {
  constructor(message: string, code: string, hint?: string) {
    super(code, message, { hint });
  }
}

const describeKey = (jwk: Record<string, unknown>, index: number): string =>
  typeof jwk.kid === 'string' ? `key ${printable(jwk.kid)}` : `key #${index + 1}`;

/** The JWKs in a file holding a JWK Set (RFC 7517 §5), a single JWK, or a JSON array of JWKs. */
export function jwksFromText(text: string, source = 'the file'): Record<string, unknown>[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new KeyInputError(`${source} is not valid JSON`, 'bad_json', 'expected a JWK Set {"keys": [...]} or a single JWK {"kty": ...}');
  }
  const isSet = typeof document === 'object' && document !== null && !Array.isArray(document) && 'keys' in document;
  const keys = isSet ? (document as { keys: unknown }).keys : document;
  const list = Array.isArray(keys) ? keys : [keys];
  if (list.length === 0) throw new KeyInputError(`${source} holds no keys`, 'no_keys');
  list.forEach((key, index) => {
    if (typeof key !== 'object' || key === null || Array.isArray(key)) {
      throw new KeyInputError(`${source}: key #${index + 1} is not a JSON object`, 'bad_jwk');
    }
  });
  return list as Record<string, unknown>[];
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new KeyInputError(`cannot read ${printable(file)}: ${why}`, 'file_not_readable');
  }
}

/**
 * The minimum secret length of each HMAC algorithm: RFC 7518 §3.2, "a key of the same size as the
 * hash output … or larger MUST be used". auth.add_key enforces it too.
 */
export const HMAC_SECRET_BYTES: Record<string, number> = Object.fromEntries(
  Object.entries(ALGORITHMS).filter(([, row]) => row.family === 'hmac').map(([alg, row]) => [alg, row.hashBytes]),
);

/** No HMAC secret is this long (RFC 2104 §3 hashes longer keys anyway): a bigger file is the wrong file. */
const MAX_SECRET_BYTES = 4096;

function looksLikeJwk(secret: Buffer): boolean {
  try {
    const parsed: unknown = JSON.parse(secret.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && ('kty' in parsed || 'keys' in parsed);
  } catch {
    return false;
  }
}

/**
 * A raw shared secret, as providers hand it out (Supabase's legacy JWT secret, for one): the
 * secret string's UTF-8 bytes are the HMAC key. From a file, a trailing newline (LF or CRLF) is
 * not part of the secret: editors and `echo` add one.
 */
export async function readHmacSecret(source: { file?: string; env?: string }, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  let secret: Buffer;
  let origin: string;
  if (source.file !== undefined) {
    origin = printable(source.file);
    secret = await readInput(source.file);
    if (secret.at(-1) === 0x0a) secret = secret.subarray(0, secret.at(-2) === 0x0d ? -2 : -1);
  } else if (source.env !== undefined) {
    origin = `$${printable(source.env)}`;
    const value = env[source.env];
    if (value === undefined) throw new KeyInputError(`the environment variable ${origin.slice(1)} is not set`, 'secret_not_set');
    secret = Buffer.from(value, 'utf8');
  } else {
    throw new InvalidSettingError('give the secret with --hmac-secret-file FILE or --hmac-secret-env VAR');
  }
  if (secret.length === 0) throw new KeyInputError(`the secret in ${origin} is empty`, 'secret_too_short');
  if (secret.length > MAX_SECRET_BYTES) throw new KeyInputError(`the secret in ${origin} is over ${MAX_SECRET_BYTES} bytes: is it the right file?`, 'secret_too_long');
  if (looksLikeJwk(secret)) {
    throw new KeyInputError(`${origin} holds a JWK, not a raw secret`, 'secret_is_jwk', 'register a JWK with --file (and --alg when it names none)');
  }
  return secret;
}

/** An `oct` JWK (RFC 7518 §6.4) holding `secret`, pinned to `alg`; refuses secrets too short for it. */
export function hmacJwk(secret: Buffer, alg: string, kid?: string): Record<string, unknown> {
  const minimum = HMAC_SECRET_BYTES[alg];
  if (minimum === undefined) throw new InvalidSettingError(`a shared secret needs --alg HS256, HS384 or HS512, not ${printable(alg)}`);
  if (secret.length < minimum) {
    throw new KeyInputError(`${alg} needs a secret of at least ${minimum} bytes; this one has ${secret.length}`, 'secret_too_short',
      alg === 'HS256' ? undefined : 'a shorter secret may be meant for HS256');
  }
  if (kid === '') throw new InvalidSettingError('--kid must not be empty');
  return { kty: 'oct', k: secret.toString('base64url'), alg, ...(kid === undefined ? {} : { kid }) };
}

interface ProviderRow {
  id: string;
  issuer: string;
  subject_prefix: string | null;
}

async function summary(client: pg.ClientBase, keyId: string): Promise<KeySummary> {
  const { rows } = await client.query<KeySummary>(
    `SELECT kid, alg, public_jwk ->> 'kty' AS kty, thumbprint, status FROM auth.keys WHERE id = $1`, [keyId]);
  return rows[0]!;
}

/**
 * A key auth.add_key refused as a duplicate (SQLSTATE 23505): the same key, with the same kid and
 * algorithm, counts as registered already; anything else (the kid taken by other material, the
 * material registered under another kid) is an error that names what is there.
 */
async function existingKey(client: pg.ClientBase, providerId: string, jwk: Record<string, unknown>, alg: string | null): Promise<KeySummary | string> {
  const { rows } = await client.query<KeySummary & { same_material: boolean }>(
    `SELECT k.kid, k.alg, k.public_jwk ->> 'kty' AS kty, k.thumbprint, k.status,
            k.thumbprint = auth._jwk_thumbprint($2::jsonb) AS same_material
       FROM auth.providers AS p JOIN auth.keys AS k ON k.provider_id = p.id
      WHERE p.id = $1 AND k.alg = auth._key_algorithm(p, $2::jsonb, $3)
        AND (k.thumbprint = auth._jwk_thumbprint($2::jsonb) OR k.kid = $2::jsonb ->> 'kid')
      ORDER BY same_material DESC`,
    [providerId, JSON.stringify(jwk), alg],
  );
  const kid = typeof jwk.kid === 'string' ? jwk.kid : null;
  const [first] = rows;
  if (!first) return 'the provider already has this key';
  if (rows.length === 1 && first.same_material && first.kid === kid) {
    return { kid: first.kid, alg: first.alg, kty: first.kty, thumbprint: first.thumbprint, status: first.status };
  }
  return first.same_material
    ? `the provider already has this key under kid ${printable(first.kid ?? '(none)')}`
    : `the provider already has a different ${first.alg} key with kid ${printable(kid ?? '(none)')}`;
}

/**
 * Registers JWKs for a provider, in one transaction: every key, or none (and no provider row
 * either). The provider is created when missing, with `issuer` (default: its name) and its subject
 * prefix decided as for `provider add`. Running it again with the same keys changes nothing.
 */
export async function addKeys(client: pg.ClientBase, jwks: Record<string, unknown>[], options: AddKeysOptions): Promise<AddKeysResult> {
  return inTransaction(client, async () => {
    // The provider row is locked: two `keys add` for one provider take turns.
    const { rows: [existing] } = await client.query<ProviderRow>(
      'SELECT id, issuer, subject_prefix FROM auth.providers WHERE name = $1 FOR UPDATE', [options.provider]);
    let provider: ProviderRow;
    if (existing) {
      if (options.issuer !== undefined && options.issuer !== existing.issuer) {
        throw new RegistryError(`provider ${options.provider} has issuer ${printable(existing.issuer)}, not ${printable(options.issuer)}`, 'issuer_mismatch',
          '--issuer only applies to a provider that keys add creates; leave it out, or name another provider');
      }
      if (options.subjectPrefix !== undefined || options.sharedSubjects) {
        throw new InvalidSettingError(`provider ${options.provider} exists already: change its subjects with \`authdb provider update ${options.provider}\``);
      }
      provider = existing;
    } else {
      const issuer = options.issuer ?? options.provider;
      const created = await createProvider(client, {
        name: options.provider, issuer, subjectPrefix: options.subjectPrefix, sharedSubjects: options.sharedSubjects,
      });
      provider = { id: created.id, issuer, subject_prefix: created.subjectPrefix };
    }

    const added: KeySummary[] = [];
    const unchanged: KeySummary[] = [];
    for (const [index, jwk] of jwks.entries()) {
      await client.query('SAVEPOINT authdb_add_key');
      try {
        // auth.add_key is VOLATILE and inserts: it runs in a statement of its own, once; the new
        // row is read by the next statement (the one that inserted it cannot see it).
        const { rows } = await client.query<{ id: string }>('SELECT auth.add_key($1, $2::jsonb, $3) AS id',
          [options.provider, JSON.stringify(jwk), options.alg ?? null]);
        await client.query('RELEASE SAVEPOINT authdb_add_key');
        added.push(await summary(client, rows[0]!.id));
      } catch (error) {
        await client.query('ROLLBACK TO SAVEPOINT authdb_add_key');
        const e = error as { code?: string; message: string };
        if (e.code !== '23505') {
          throw new KeyInputError(`${describeKey(jwk, index)}: ${printable(e.message)}`, e.code === '22023' ? 'invalid_key' : 'key_not_added');
        }
        const found = await existingKey(client, provider.id, jwk, options.alg ?? null);
        if (typeof found === 'string') throw new KeyInputError(`${describeKey(jwk, index)}: ${found}`, 'key_conflict', 'see `authdb keys list`');
        // The same key twice in one file is registered once.
        if (!added.some((key) => key.thumbprint === found.thumbprint && key.alg === found.alg)) unchanged.push(found);
      }
    }
    return {
      provider: options.provider, providerCreated: !existing, issuer: provider.issuer,
      subjectPrefix: provider.subject_prefix, added, unchanged,
    };
  });
}

/** The JWKs of a file (see jwksFromText); read before any connection is opened. */
export async function readJwksFile(file: string): Promise<Record<string, unknown>[]> {
  return jwksFromText((await readInput(file)).toString('utf8'), printable(file));
}

/** Registers every key of a JWKS file (or a single JWK) for a provider: see addKeys. */
export async function addKeysFromFile(client: pg.ClientBase, options: AddKeysOptions & { file: string }): Promise<AddKeysResult> {
  return addKeys(client, await readJwksFile(options.file), options);
}

/** Registers a raw shared secret as an `oct` key pinned to `alg` (HS256/384/512): see addKeys. */
export async function addHmacSecret(
  client: pg.ClientBase,
  options: AddKeysOptions & { secret: Buffer; alg: string; kid?: string },
): Promise<AddKeysResult> {
  return addKeys(client, [hmacJwk(options.secret, options.alg, options.kid)], options);
}

export async function listKeys(client: pg.ClientBase, provider?: string): Promise<KeyRow[]> {
  const { rows } = await client.query(
    `SELECT p.name AS provider, k.kid, k.alg, k.public_jwk ->> 'kty' AS kty, k.status, k.source, k.thumbprint,
            k.created_at, k.verify_until, k.revoked_at
       FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id
      WHERE $1::text IS NULL OR p.name = $1
      ORDER BY p.name, k.kid NULLS LAST, k.alg, k.thumbprint`,
    [provider ?? null],
  );
  if (provider !== undefined && rows.length === 0) await requireProvider(client, provider);
  return rows.map((row) => ({
    provider: row.provider,
    kid: row.kid,
    alg: row.alg,
    kty: row.kty,
    status: row.status,
    source: row.source,
    thumbprint: row.thumbprint,
    createdAt: row.created_at,
    verifyUntil: row.verify_until,
    revokedAt: row.revoked_at,
  }));
}

async function requireProvider(client: pg.ClientBase, name: string): Promise<void> {
  const { rowCount } = await client.query('SELECT 1 FROM auth.providers WHERE name = $1', [name]);
  if (rowCount === 0) throw new RegistryError(`no provider named ${printable(name)}`, 'unknown_provider', 'see `authdb provider list`');
}

export interface RevokeResult {
  provider: string;
  kid?: string;
  thumbprint?: string;
  /** Rows revoked now (one per algorithm); 0 when they were revoked already. */
  revoked: number;
}

/**
 * Revokes a key at once (docs/security.md §6): by kid, or by thumbprint for a key without one
 * (or whose kid cannot be typed). The provider is needed only when two providers hold the key.
 */
export async function revokeKeys(client: pg.ClientBase, selector: { kid: string } | { thumbprint: string }, provider?: string): Promise<RevokeResult> {
  const [column, value, label] = 'kid' in selector
    ? ['kid', selector.kid, `kid ${printable(selector.kid)}`]
    : ['thumbprint', selector.thumbprint, `thumbprint ${printable(selector.thumbprint)}`];
  return inTransaction(client, async () => {
    if (provider !== undefined) await requireProvider(client, provider);
    // The matching rows are locked, then counted per provider: an ambiguous request revokes nothing.
    const { rows } = await client.query<{ name: string }>(
      `SELECT p.name FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id
        WHERE k.${column} = $1 AND ($2::text IS NULL OR p.name = $2)
        ORDER BY p.name FOR UPDATE OF k`,
      [value, provider ?? null],
    );
    const providers = [...new Set(rows.map((row) => row.name))];
    if (providers.length === 0) {
      throw new RegistryError(`no key with ${label}${provider === undefined ? '' : ` for provider ${printable(provider)}`}`, 'unknown_key',
        'see `authdb keys list`');
    }
    if (providers.length > 1) {
      throw new RegistryError(`${label} is used by providers ${providers.join(', ')}: name one with --provider`, 'ambiguous_key');
    }
    let revoked: number;
    if (column === 'kid') {
      // by kid: what auth.revoke_key does for every install path (the SQL API included)
      const { rows: [row] } = await client.query<{ count: number }>('SELECT auth.revoke_key($1, $2) AS count', [value, providers[0]]);
      revoked = row!.count;
    } else {
      // by thumbprint: every row of that key material, whatever kids it is published under
      const { rowCount } = await client.query(
        `UPDATE auth.keys AS k SET status = 'revoked', revoked_at = pg_catalog.now()
           FROM auth.providers AS p
          WHERE p.id = k.provider_id AND p.name = $2 AND k.thumbprint = $1 AND k.status <> 'revoked'`,
        [value, providers[0]],
      );
      revoked = rowCount ?? 0;
    }
    return { provider: providers[0]!, [column]: value, revoked };
  });
}

/** Revokes the keys with this kid; returns how many rows (one per algorithm) were revoked now. */
export async function revokeKey(client: pg.ClientBase, kid: string, provider?: string): Promise<number> {
  return (await revokeKeys(client, { kid }, provider)).revoked;
}
