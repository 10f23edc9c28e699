// Applies a fetched key set to one provider's keys, inside the caller's transaction, with the
// provider row locked (concurrent syncs serialize on it and see each other's result):
// - a key already present (same material and alg) stays, and is restored if it was retired;
//   a revoked key stays revoked;
// - a new key is registered through auth.add_key (which validates it again); one the SQL rejects
//   is skipped with a warning;
// - a kid reused with different material replaces the old key (tokens naming that kid now mean
//   the new key), unless the old key was revoked or is static: then the new one is skipped;
// - a JWKS key missing from the set is retired: it verifies until now + the provider's grace.
// Static keys (`authdb keys add`) are never touched.
import type pg from 'pg';
import type { ParsedKey, SkippedKey } from './parse.js';

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
}

export class NoUsableKeyError extends Error {}

/** Locks the provider's row for the rest of the transaction; returns its id and grace. */
export async function lockProvider(client: pg.ClientBase, name: string): Promise<{ id: string; graceSeconds: number }> {
  const { rows } = await client.query<{ id: string; grace_seconds: number }>(
    'SELECT id, grace_seconds FROM auth.providers WHERE name = $1 FOR UPDATE',
    [name],
  );
  if (!rows[0]) throw new Error(`no provider named ${name}`);
  return { id: rows[0].id, graceSeconds: rows[0].grace_seconds };
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
    'SELECT id, kid, alg, thumbprint, status, source FROM auth.keys WHERE provider_id = $1 ORDER BY id',
    [provider.id],
  );
  const result: ApplyResult = { added: 0, retired: 0, restored: 0, replaced: 0, unchanged: 0, skipped: [] };
  const kept = new Set<string>(); // ids of stored keys present in the new set
  const toAdd: ParsedKey[] = [];
  const toDelete: StoredKey[] = [];

  for (const key of keys) {
    const same = stored.find((s) => s.thumbprint === key.thumbprint && s.alg === key.alg);
    if (same) {
      kept.add(same.id);
      if (same.kid !== key.kid && same.status !== 'revoked') {
        result.skipped.push({ kid: key.kid, reason: `this key is already registered under kid ${same.kid ?? '(none)'}` });
      }
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
  let usable = result.unchanged + result.restored;
  for (const key of toAdd) {
    try {
      await savepoint(client, () => client.query("SELECT auth.add_key($1, $2::jsonb, $3, 'jwks')", [providerName, JSON.stringify(key.jwk), key.alg]));
      result.added += 1;
      usable += 1;
    } catch (error) {
      // a per-provider limit (SQLSTATE 54000: key size, key count) fails the whole sync, keys kept
      if ((error as { code?: string }).code === '54000') throw error;
      result.skipped.push({ kid: key.kid, reason: `refused by the database: ${(error as Error).message}` });
    }
  }
  // A set whose keys the database refused entirely changes nothing (security model §6).
  if (usable === 0) {
    throw new NoUsableKeyError(
      `no usable key in the set (${result.skipped.map((s) => `${s.kid ?? '?'}: ${s.reason}`).join('; ')})`,
    );
  }
  const toRetire = stored.filter((key) => key.source === 'jwks' && key.status === 'active' && !kept.has(key.id)).map((key) => key.id);
  const retired = await client.query(
    `UPDATE auth.keys
        SET status = 'retired', retired_at = pg_catalog.now(),
            verify_until = pg_catalog.now() + pg_catalog.make_interval(secs => $2)
      WHERE provider_id = $1 AND id = ANY ($3::bigint[])`,
    [provider.id, provider.graceSeconds, toRetire],
  );
  result.retired = retired.rowCount ?? 0;
  return result;
}
