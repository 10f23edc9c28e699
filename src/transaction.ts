// The one way the library runs several statements as a unit: BEGIN, the work, then COMMIT — or
// ROLLBACK when the work throws, or always for a dry run (`authdb dev sql`, `authdb why`).
import type pg from 'pg';

export interface TransactionOptions {
  /** Roll back even when the work succeeds: look, change nothing (default false). */
  rollback?: boolean;
}

/**
 * Runs `work` in one transaction on `client`. The work's error is rethrown as it was; a ROLLBACK
 * that fails after it (a broken connection) does not hide it.
 */
export async function inTransaction<T>(client: pg.ClientBase, work: () => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  await client.query('BEGIN');
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  await client.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
  return result;
}
