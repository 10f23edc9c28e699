// Registers a JWK through one family's registration function directly, bypassing auth.add_key's
// own checks, so that a family's validation is tested on its own: inserts the auth.keys row the
// function expects and calls it, in one transaction (a refused key leaves nothing behind).
import type pg from 'pg';
import { inTransaction } from '../../src/transaction.js';
import { withPoolClient } from './db.js';

export type Family = 'ec' | 'okp' | 'rsa';

export async function registerKeyRow(
  pool: pg.Pool,
  key: { providerId: number; kid: string; alg: string; rowAlg?: string; jwk: Record<string, unknown>; family: Family },
): Promise<number> {
  return withPoolClient(pool, (client) => inTransaction(client, async () => {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO auth.keys (provider_id, kid, alg, public_jwk, thumbprint) VALUES ($1, $2, $3, $4, $2) RETURNING id`,
      [key.providerId, key.kid, key.rowAlg ?? key.alg, JSON.stringify(key.jwk)],
    );
    const id = Number(rows[0]!.id);
    await client.query(`SELECT auth._register_${key.family}_key($1, $2, $3::jsonb)`, [id, key.alg, JSON.stringify(key.jwk)]);
    return id;
  }));
}

/** Inserts a bare provider row (no keys, no JWKS) for keys registered with registerKeyRow; its id. */
export async function insertProviderRow(pool: pg.Pool, name: string, issuer = `https://${name}.test`): Promise<number> {
  const { rows } = await pool.query<{ id: string }>(
    'INSERT INTO auth.providers (name, issuer) VALUES ($1, $2) RETURNING id', [name, issuer],
  );
  return Number(rows[0]!.id);
}
