// Whose eyes `authdb why` looks through: a token, verified by auth.init exactly as an
// application's request would verify it (a rejected token fails with its rejection code), or a
// subject and claims made into a sealed transaction identity by auth._impersonate, which only
// the auth schema's owner may call (sql/functions/82_why.sql).
import type pg from 'pg';

export type WhyIdentity =
  | { token: string }
  | { sub: string; claims?: Record<string, unknown>; provider?: string };

export interface AssumedIdentity {
  /** The provider whose user this is (the one whose issuer the claims carry). */
  provider: string | null;
  /** auth.user_id(): `sub` behind the provider's subject prefix. */
  userId: string | null;
  claims: Record<string, unknown>;
  /** How the identity was made: a verified token, or impersonation. */
  source: 'token' | 'impersonation';
}

/** Makes the identity that of the current transaction (which the caller rolls back). */
export async function assumeIdentity(client: pg.ClientBase, identity: WhyIdentity): Promise<AssumedIdentity> {
  let claims: Record<string, unknown>;
  if ('token' in identity) {
    claims = (await client.query<{ claims: Record<string, unknown> }>('SELECT auth.init($1) AS claims', [identity.token])).rows[0]!.claims;
  } else {
    const wanted = { ...(identity.claims ?? {}), sub: identity.sub };
    claims = (
      await client.query<{ claims: Record<string, unknown> }>('SELECT auth._impersonate($1, $2::pg_catalog.jsonb) AS claims', [identity.provider ?? null, JSON.stringify(wanted)])
    ).rows[0]!.claims;
  }
  const { rows } = await client.query<{ user_id: string | null; provider: string | null }>(
    `SELECT auth.user_id() AS user_id
          , (SELECT p.name FROM auth.providers AS p WHERE p.issuer OPERATOR(pg_catalog.=) (auth.session() OPERATOR(pg_catalog.->>) 'iss')) AS provider`,
  );
  return { provider: rows[0]!.provider, userId: rows[0]!.user_id, claims, source: 'token' in identity ? 'token' : 'impersonation' };
}
