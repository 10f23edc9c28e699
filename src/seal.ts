// `authdb seal rotate`: a new sealing secret (docs/security.md §11). Every identity and
// verified-token cache entry sealed under the previous secret stops counting at once, in every
// backend: identities read as none, cache entries as misses (the next auth.init verifies again).
import type pg from 'pg';
import { pinSearchPath } from './connection.js';
import { AuthdbError } from './errors.js';

export interface SealRotation {
  /** How many secrets this installation has had: 1 at install, one more per rotation. */
  generation: number;
  rotatedAt: Date;
}

export class SealRotationError extends AuthdbError {
  declare readonly hint: string;
  constructor(message: string, hint: string) {
    super('seal_rotation_refused', message, { hint });
  }
}

/** Replaces the sealing secret; the caller must be the owner of the auth schema. */
export async function rotateSealSecret(client: pg.ClientBase): Promise<SealRotation> {
  await pinSearchPath(client);
  try {
    await client.query('SELECT auth.rotate_seal_secret()');
  } catch (error) {
    const code = (error as pg.DatabaseError).code;
    if (code === '42501') {
      throw new SealRotationError(
        'only the owner of the auth schema may rotate the sealing secret',
        'connect as the role that ran authdb migrate (or owns the authdb extension)',
      );
    }
    if (code === '3F000' || code === '42883') {
      throw new SealRotationError('authdb 0.2 or newer is not installed in this database', 'run authdb migrate first');
    }
    throw error;
  }
  const { rows } = await client.query<{ generation: string; created_at: Date }>(
    'SELECT s.generation, s.created_at FROM auth.seal_secret AS s',
  );
  const row = rows[0]!;
  return { generation: Number(row.generation), rotatedAt: row.created_at };
}
