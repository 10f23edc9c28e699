// The rejection codes of the public contract (SQLSTATE 28000, `jwt rejected: CODE`).
import type { DatabaseError } from 'pg';

export const REJECTION_CODES = [
  'malformed', 'too_large', 'unsupported_algorithm', 'critical_header', 'unknown_issuer', 'unknown_key',
  'key_revoked', 'bad_signature', 'expired', 'not_yet_valid', 'issued_in_future', 'issuer_mismatch',
  'audience_mismatch', 'missing_claim', 'invalid_claim', 'revoked',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

export interface Rejection {
  code: RejectionCode;
  detail: string;
}

/** The rejection a database error carries, or `undefined` when it is another kind of error. */
export function rejectionOf(error: unknown): Rejection | undefined {
  const e = error as Partial<DatabaseError>;
  const match = /^jwt rejected: ([a-z_]+)$/.exec(e?.message ?? '');
  if (e?.code !== '28000' || !match) return undefined;
  return { code: match[1] as RejectionCode, detail: e.detail ?? '' };
}
