// The key store seen from Node: register keys from a JWKS file, list them, revoke them.
// Validation and precomputation happen in SQL (auth.add_key), so every install path shares them.
import { readFile } from 'node:fs/promises';
import type pg from 'pg';

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

export interface AddedKey {
  kid: string | null;
  alg: string;
  kty: string;
}

/** The JWKs in a file holding a JWK Set (RFC 7517 §5) or a single JWK. */
export function jwksFromText(text: string, source = 'the file'): Record<string, unknown>[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new Error(`${source} is not valid JSON`);
  }
  const keys = (document as { keys?: unknown })?.keys ?? document;
  const list = Array.isArray(keys) ? keys : [keys];
  if (list.length === 0) throw new Error(`${source} holds no keys`);
  list.forEach((key, index) => {
    if (typeof key !== 'object' || key === null || Array.isArray(key)) throw new Error(`${source}: key #${index + 1} is not a JSON object`);
  });
  return list as Record<string, unknown>[];
}

/**
 * Registers every key of a JWKS file for a provider, in one transaction: all or none. The provider
 * is created when missing, with `issuer` (default: the provider's name).
 */
export async function addKeysFromFile(
  client: pg.ClientBase,
  options: { provider: string; file: string; issuer?: string; alg?: string },
): Promise<AddedKey[]> {
  const jwks = jwksFromText(await readFile(options.file, 'utf8'), options.file);
  await client.query('BEGIN');
  try {
    const existing = await client.query('SELECT 1 FROM auth.providers WHERE name = $1', [options.provider]);
    if (existing.rowCount === 0) {
      await client.query('SELECT auth.add_provider($1, $2)', [options.provider, options.issuer ?? options.provider]);
    }
    const added: AddedKey[] = [];
    for (const [index, jwk] of jwks.entries()) {
      try {
        const { rows } = await client.query<{ kid: string | null; alg: string; kty: string }>(
          `SELECT k.kid, k.alg, k.public_jwk ->> 'kty' AS kty FROM auth.keys AS k WHERE k.id = auth.add_key($1, $2::jsonb, $3)`,
          [options.provider, JSON.stringify(jwk), options.alg ?? null],
        );
        added.push(rows[0]!);
      } catch (error) {
        const kid = typeof jwk.kid === 'string' ? `kid ${jwk.kid}` : `#${index + 1}`;
        throw new Error(`key ${kid}: ${(error as Error).message}`);
      }
    }
    await client.query('COMMIT');
    return added;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

export async function listKeys(client: pg.ClientBase, provider?: string): Promise<KeyRow[]> {
  const { rows } = await client.query(
    `SELECT p.name AS provider, k.kid, k.alg, k.public_jwk ->> 'kty' AS kty, k.status, k.source, k.thumbprint,
            k.created_at, k.verify_until, k.revoked_at
       FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id
      WHERE $1::text IS NULL OR p.name = $1
      ORDER BY p.name, k.kid NULLS LAST, k.alg`,
    [provider ?? null],
  );
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

/** Revokes a key at once; returns how many rows (one per algorithm) were revoked. */
export async function revokeKey(client: pg.ClientBase, kid: string, provider?: string): Promise<number> {
  const { rows } = await client.query<{ count: number }>('SELECT auth.revoke_key($1, $2) AS count', [kid, provider ?? null]);
  return rows[0]!.count;
}
