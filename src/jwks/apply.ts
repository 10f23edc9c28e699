// Applies a fetched key set to one provider's keys, inside the caller's transaction, with the
// provider row locked (concurrent syncs serialize on it and see each other's result):
// - the set must fit the provider's limits (max_keys, max_rsa_bits, migration 0007): a set that
//   does not fails as a whole, so a rotation is never half applied (docs/security.md §6, §12);
// - a key already present (same kid, alg and material) stays, and is restored if it was retired;
//   a revoked key stays revoked, and its material is never registered again under another kid;
// - one key under two kids is two rows, one per kid, so tokens naming either kid verify;
// - a new key is registered through auth.add_key (which validates it again); one the SQL rejects
//   is skipped with a warning;
// - a kid reused with different material replaces the old key (tokens naming that kid now mean
//   the new key), unless the old key was revoked or is static: then the new one is skipped;
// - a JWKS key missing from the set is retired: it verifies until now + the provider's grace.
// Static keys (`authdb keys add`) are never touched.
import type pg from 'pg';
import type { ParsedKey, SkippedKey } from './parse.js';
import { AuthdbError } from '../errors.js';

export interface ApplyCounts {
  added: number;
  retired: number;
  restored: number;
  replaced: number;
  unchanged: number;
}

export interface ApplyResult extends ApplyCounts {
  skipped: SkippedKey[];
}

interface StoredKey {
  id: string;
  kid: string | null;
  alg: string;
  thumbprint: string;
  status: 'active' | 'retired' | 'revoked';
  source: 'static' | 'jwks';
  /** Verifies now: active, or retired within its grace period. */
  usable: boolean;
}

export class NoUsableKeyError extends AuthdbError {
  constructor(message: string) {
    super('no_usable_key', message);
  }
}

/** The set is over one of the provider's limits: nothing of it is applied. */
export class KeyLimitError extends AuthdbError {
  constructor(message: string) {
    super('key_limit', message);
  }
}

interface LockedProvider {
  id: string;
  graceSeconds: number;
  maxKeys: number;
  maxRsaBits: number;
}

/** Locks the provider's row for the rest of the transaction; returns its id, grace and limits. */
export async function lockProvider(client: pg.ClientBase, name: string): Promise<LockedProvider> {
  const { rows } = await client.query<{ id: string; grace_seconds: number; max_keys: number; max_rsa_bits: number }>(
    'SELECT id, grace_seconds, max_keys, max_rsa_bits FROM auth.providers WHERE name = $1 FOR UPDATE',
    [name],
  );
  if (!rows[0]) throw new Error(`no provider named ${name}`);
  return { id: rows[0].id, graceSeconds: rows[0].grace_seconds, maxKeys: rows[0].max_keys, maxRsaBits: rows[0].max_rsa_bits };
}

/** A refusal by the database's per-provider limits (SQLSTATE class 54, or naming the limit). */
function isLimitRefusal(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (typeof e.code === 'string' && e.code.startsWith('54')) || /max_keys|max_rsa_bits/.test(e.message ?? '');
}

/**
 * The limits as auth.add_key counts them (docs/security.md §12), checked before anything is
 * written: `max_rsa_bits` per key, and `max_keys` usable keys — the set's, plus the keys that
 * keep verifying beside them (static keys, and retired keys within their grace period).
 */
function checkLimits(providerName: string, provider: LockedProvider, keys: ParsedKey[], earlier: number): void {
  const big = keys.find((key) => (key.rsaBits ?? 0) > provider.maxRsaBits);
  if (big) {
    throw new KeyLimitError(
      `key ${big.kid ?? '(no kid)'} is a ${big.rsaBits}-bit RSA key, over provider ${providerName}'s max_rsa_bits (${provider.maxRsaBits}); ` +
        `the keys stay as they were (authdb provider update ${providerName} --max-rsa-bits N raises it)`,
    );
  }
  if (keys.length + earlier > provider.maxKeys) {
    const beside = earlier ? ` and ${earlier} earlier key(s) still verify (static, or retired within their grace period)` : '';
    throw new KeyLimitError(
      `the set has ${keys.length} usable keys${beside}, over provider ${providerName}'s max_keys (${provider.maxKeys}); ` +
        `the keys stay as they were (authdb provider update ${providerName} --max-keys N raises it)`,
    );
  }
}

async function savepoint<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('SAVEPOINT authdb_key');
  try {
    const result = await work();
    await client.query('RELEASE SAVEPOINT authdb_key');
    return result;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT authdb_key');
    throw error;
  }
}

/** Must run inside a transaction that the caller commits or rolls back. */
export async function applyKeySet(client: pg.ClientBase, providerName: string, keys: ParsedKey[]): Promise<ApplyResult> {
  const provider = await lockProvider(client, providerName);
  const { rows: stored } = await client.query<StoredKey>(
    `SELECT id, kid, alg, thumbprint, status, source,
            status = 'active' OR (status = 'retired' AND coalesce(verify_until > pg_catalog.clock_timestamp(), false)) AS usable
       FROM auth.keys WHERE provider_id = $1 ORDER BY id`,
    [provider.id],
  );
  const result: ApplyResult = { added: 0, retired: 0, restored: 0, replaced: 0, unchanged: 0, skipped: [] };
  const kept = new Set<string>(); // ids of stored keys present in the new set
  const toAdd: ParsedKey[] = [];
  const toDelete: StoredKey[] = [];

  for (const key of keys) {
    const same = stored.find((s) => s.kid === key.kid && s.alg === key.alg && s.thumbprint === key.thumbprint);
    if (same) {
      kept.add(same.id);
      continue;
    }
    // Revoked material stays revoked under every kid (a leaked key republished under a new kid).
    const revoked = stored.find((s) => s.status === 'revoked' && s.thumbprint === key.thumbprint && s.alg === key.alg);
    if (revoked) {
      result.skipped.push({ kid: key.kid, reason: `this key was revoked (kid ${revoked.kid ?? '(none)'})` });
      continue;
    }
    const holder = key.kid === null ? undefined : stored.find((s) => s.kid === key.kid && s.alg === key.alg);
    if (holder) {
      if (holder.status === 'revoked' || holder.source === 'static') {
        result.skipped.push({ kid: key.kid, reason: `kid ${key.kid} (${key.alg}) belongs to a ${holder.status === 'revoked' ? 'revoked' : 'static'} key with other material` });
        kept.add(holder.id);
        continue;
      }
      toDelete.push(holder);
      kept.add(holder.id);
    }
    toAdd.push(key);
  }
  // Not in the set, yet still verifying afterwards: static keys, keys retired now (when there is a
  // grace period) and keys retired earlier whose grace period runs.
  const earlier = stored.filter((s) => s.usable && !kept.has(s.id) && (s.source === 'static' || s.status === 'retired' || provider.graceSeconds > 0));
  const fromSet = keys.filter((key) => !stored.some((s) => s.status === 'revoked' && s.thumbprint === key.thumbprint && s.alg === key.alg));
  checkLimits(providerName, provider, fromSet, earlier.length);

  for (const old of toDelete) {
    await client.query('DELETE FROM auth.keys WHERE id = $1', [old.id]);
    result.replaced += 1;
  }
  for (const key of stored) {
    if (!kept.has(key.id) || key.status === 'revoked') continue;
    if (toDelete.includes(key)) continue;
    if (key.status === 'retired') {
      await client.query(
        "UPDATE auth.keys SET status = 'active', retired_at = NULL, verify_until = NULL WHERE id = $1",
        [key.id],
      );
      result.restored += 1;
    } else {
      result.unchanged += 1;
    }
  }
  // Retire before adding: a key being rotated out never counts against max_keys with its successor.
  const toRetire = stored.filter((key) => key.source === 'jwks' && key.status === 'active' && !kept.has(key.id)).map((key) => key.id);
  const retired = await client.query(
    `UPDATE auth.keys
        SET status = 'retired', retired_at = pg_catalog.now(),
            verify_until = pg_catalog.now() + pg_catalog.make_interval(secs => $2)
      WHERE provider_id = $1 AND id = ANY ($3::bigint[])`,
    [provider.id, provider.graceSeconds, toRetire],
  );
  result.retired = retired.rowCount ?? 0;
  let usable = result.unchanged + result.restored;
  for (const key of toAdd) {
    try {
      await savepoint(client, () => client.query("SELECT auth.add_key($1, $2::jsonb, $3, 'jwks')", [providerName, JSON.stringify(key.jwk), key.alg]));
      result.added += 1;
      usable += 1;
    } catch (error) {
      // A limit refusal fails the whole set (the caller rolls back); any other refusal skips the key.
      if (isLimitRefusal(error)) throw new KeyLimitError(`key ${key.kid ?? '(no kid)'} refused by the database: ${(error as Error).message}; the keys stay as they were`);
      result.skipped.push({ kid: key.kid, reason: `refused by the database: ${(error as Error).message}` });
    }
  }
  // A set whose keys the database refused entirely changes nothing (docs/security.md §6).
  if (usable === 0) {
    throw new NoUsableKeyError(
      `no usable key in the set (${result.skipped.map((s) => `${s.kid ?? '?'}: ${s.reason}`).join('; ')})`,
    );
  }
  return result;
}
