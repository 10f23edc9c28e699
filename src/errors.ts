// The errors of the library, in the manner of jose: every error authdb throws on purpose is an
// AuthdbError with a stable `code` (a snake_case name a program may branch on), a `hint` saying
// what to do, and the `cause` it wraps, a database error's SQLSTATE, DETAIL and HINT included
// (`databaseCause`). The subclasses live beside the code that throws them; the CLI maps them to
// exit codes and `--json` error codes in cli/output.ts.
// Also: the rejection codes of the public contract (SQLSTATE 28000, `jwt rejected: CODE`).
import type { DatabaseError } from 'pg';

export interface AuthdbErrorOptions {
  hint?: string;
  /** The error behind this one, kept whole (a pg DatabaseError keeps its SQLSTATE, DETAIL, HINT). */
  cause?: unknown;
}

export class AuthdbError extends Error {
  /** Stable: a program may branch on it. */
  readonly code: string;
  readonly hint?: string;

  constructor(code: string, message: string, options: AuthdbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
  }
}

/** What a server error says beyond its message: SQLSTATE, DETAIL and HINT. */
export interface DatabaseCause {
  sqlstate: string;
  detail?: string;
  hint?: string;
}

/** The first database error along an error's `cause` chain (the error itself included), if any. */
export function databaseCause(error: unknown): DatabaseCause | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const db = e as Partial<DatabaseError>;
    if (typeof db.code === 'string' && /^[0-9A-Z]{5}$/.test(db.code) && typeof db.severity === 'string') {
      return { sqlstate: db.code, ...(db.detail ? { detail: db.detail } : {}), ...(db.hint ? { hint: db.hint } : {}) };
    }
  }
  return undefined;
}

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
