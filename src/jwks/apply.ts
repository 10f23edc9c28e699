// Applies a fetched key set to one provider's keys, inside the caller's transaction. The rules of
// rotation (add, retire with a grace period, restore, replace, the per-provider limits, revoked
// material staying revoked) live in one place, the SQL function auth.apply_jwks
// (sql/functions/52_rotation.sql), which SQL-file and pg_tle installs call by hand; this module
// hands it the parsed keys and turns its refusals of the whole set into the library's errors.
import type pg from 'pg';
import type { ParsedKey, SkippedKey } from './parse.js';
import { AuthdbError, type AuthdbErrorOptions } from '../errors.js';

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

/** The database refused every key of the set: nothing of it is applied. */
export class NoUsableKeyError extends AuthdbError {
  constructor(message: string, options: AuthdbErrorOptions = {}) {
    super('no_usable_key', message, options);
  }
}

/** The set is over one of the provider's limits: nothing of it is applied. */
export class KeyLimitError extends AuthdbError {
  constructor(message: string, options: AuthdbErrorOptions = {}) {
    super('key_limit', message, options);
  }
}

/** The refusals auth.apply_jwks raises for the set as a whole, as the library's errors. */
function refusalOf(error: unknown): Error {
  const e = error as { code?: string; message?: string };
  if (e.code === '54000') return new KeyLimitError(e.message!, { cause: error });
  if (e.code === '22023' && e.message?.startsWith('no usable key in the set')) return new NoUsableKeyError(e.message, { cause: error });
  return error as Error;
}

/** Must run inside a transaction that the caller commits or rolls back. */
export async function applyKeySet(client: pg.ClientBase, providerName: string, keys: ParsedKey[]): Promise<ApplyResult> {
  try {
    const { rows } = await client.query<ApplyResult>(
      'SELECT added, retired, restored, replaced, unchanged, skipped FROM auth.apply_jwks($1, $2::jsonb)',
      [providerName, JSON.stringify(keys.map((key) => key.jwk))],
    );
    return rows[0]!;
  } catch (error) {
    throw refusalOf(error);
  }
}
