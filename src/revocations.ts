// Revocation (docs/revocation.md, docs/security.md §13): a subject's tokens issued before a moment,
// one token by `jti`, or one OIDC session by `sid` are rejected `revoked` by auth.init and
// auth.verify at once, in every backend and on hot standbys. This module calls the owner-only SQL
// functions (auth.revoke_subject, auth.revoke_token, auth.revoke_session, auth.prune_revocations)
// and lists what is revoked.
import type pg from 'pg';
import { printable } from './printable.js';
import { InvalidSettingError, RegistryError } from './providers/registry.js';
import { inTransaction } from './transaction.js';

export type RevocationKind = 'subject' | 'token' | 'session';

export interface Revocation {
  provider: string;
  kind: RevocationKind;
  /** The revoked `sub`, `jti` or `sid`, as the tokens carry it. */
  value: string;
  /** For a subject: its tokens whose `iat` is before this are rejected; null for a token or session. */
  issuedBefore: Date | null;
  /** When it was (last) revoked. */
  revokedAt: Date;
  /**
   * When `authdb revocations prune` may drop the entry (no token it matches can verify after that);
   * null while the provider has no maximum token age: then the entry stays.
   */
  expiresAt: Date | null;
  /** What auth.user_id() returns for a revoked subject (the provider's subject prefix applied); null otherwise. */
  userId: string | null;
}

const SQL_FUNCTION: Record<RevocationKind, string> = {
  subject: 'auth.revoke_subject',
  token: 'auth.revoke_token',
  session: 'auth.revoke_session',
};

const SELECT_REVOCATIONS = `
  SELECT p.name AS provider, r.kind, r.value, r.issued_before, r.revoked_at,
         auth._revocation_expires_at(r.issued_before, r.revoked_at, p.max_token_age_seconds, p.leeway_seconds) AS expires_at,
         CASE WHEN r.kind = 'subject' THEN pg_catalog.concat(p.subject_prefix, r.value) END AS user_id
    FROM auth.revocations AS r JOIN auth.providers AS p ON p.id = r.provider_id`;

function toRevocation(row: Record<string, unknown>): Revocation {
  return {
    provider: row.provider as string,
    kind: row.kind as RevocationKind,
    value: row.value as string,
    issuedBefore: row.issued_before as Date | null,
    revokedAt: row.revoked_at as Date,
    expiresAt: row.expires_at as Date | null,
    userId: row.user_id as string | null,
  };
}

async function requireProvider(client: pg.ClientBase, name: string): Promise<void> {
  const { rowCount } = await client.query('SELECT 1 FROM auth.providers WHERE name = $1', [name]);
  if (rowCount === 0) throw new RegistryError(`no provider named ${printable(name)}`, 'unknown_provider', 'see `authdb provider list`');
}

function checkValue(kind: RevocationKind, value: string): void {
  const claim = { subject: 'subject (sub)', token: 'jti', session: 'sid' }[kind];
  if (value === '' || Buffer.byteLength(value) > 1024) throw new InvalidSettingError(`the ${claim} to revoke must be 1 to 1024 bytes`);
}

/**
 * Revokes a subject, a token or a session of `provider`; returns the entry as stored. For a subject,
 * `issuedBefore` (default: now, the database's clock) is the moment before which its tokens are
 * rejected; revoking it again keeps the later moment.
 */
export async function revoke(client: pg.ClientBase, kind: RevocationKind, provider: string, value: string, issuedBefore?: Date): Promise<Revocation> {
  checkValue(kind, value);
  if (issuedBefore !== undefined && Number.isNaN(issuedBefore.getTime())) throw new InvalidSettingError('the time to revoke before is not a valid date');
  return inTransaction(client, async () => {
    await requireProvider(client, provider);
    if (kind === 'subject' && issuedBefore !== undefined) {
      await client.query('SELECT auth.revoke_subject($1, $2, $3::timestamptz)', [provider, value, issuedBefore.toISOString()]);
    } else {
      await client.query(`SELECT ${SQL_FUNCTION[kind]}($1, $2)`, [provider, value]);
    }
    const { rows } = await client.query(`${SELECT_REVOCATIONS} WHERE p.name = $1 AND r.kind = $2 AND r.value = $3`, [provider, kind, value]);
    return toRevocation(rows[0]!);
  });
}

export const revokeSubject = (client: pg.ClientBase, provider: string, sub: string, issuedBefore?: Date): Promise<Revocation> =>
  revoke(client, 'subject', provider, sub, issuedBefore);
export const revokeToken = (client: pg.ClientBase, provider: string, jti: string): Promise<Revocation> => revoke(client, 'token', provider, jti);
export const revokeSession = (client: pg.ClientBase, provider: string, sid: string): Promise<Revocation> => revoke(client, 'session', provider, sid);

/** Every revocation, or one provider's; by provider, kind and value. */
export async function listRevocations(client: pg.ClientBase, provider?: string): Promise<Revocation[]> {
  const { rows } = await client.query(`${SELECT_REVOCATIONS} WHERE $1::text IS NULL OR p.name = $1 ORDER BY p.name, r.kind, r.value`, [provider ?? null]);
  if (provider !== undefined && rows.length === 0) await requireProvider(client, provider);
  return rows.map(toRevocation);
}

export interface PruneResult {
  /** Entries deleted: no unexpired token could match them any more. */
  removed: number;
  /** Entries that stay. */
  remaining: number;
  /** Of those, entries of providers without a maximum token age: kept until revoked by hand or the provider is removed. */
  unbounded: number;
}

/** Deletes the entries no unexpired token can match (auth.prune_revocations). */
export async function pruneRevocations(client: pg.ClientBase): Promise<PruneResult> {
  const { rows: [pruned] } = await client.query<{ removed: string }>('SELECT auth.prune_revocations() AS removed');
  const { rows: [left] } = await client.query<{ remaining: number; unbounded: number }>(
    `SELECT pg_catalog.count(*)::int AS remaining,
            pg_catalog.count(*) FILTER (WHERE p.max_token_age_seconds IS NULL)::int AS unbounded
       FROM auth.revocations AS r JOIN auth.providers AS p ON p.id = r.provider_id`);
  return { removed: Number(pruned!.removed), remaining: left!.remaining, unbounded: left!.unbounded };
}

/** What `sync-jwks` runs after its providers: pruning, where the installed schema has revocation (0.2). */
export async function pruneRevocationsIfInstalled(client: pg.ClientBase): Promise<PruneResult | null> {
  const { rows } = await client.query<{ installed: boolean }>("SELECT pg_catalog.to_regprocedure('auth.prune_revocations()') IS NOT NULL AS installed");
  return rows[0]?.installed ? pruneRevocations(client) : null;
}
