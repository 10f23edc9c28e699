// The verified-token cache as an attacker (or a test) sees it: the session setting `authdb.vcache`
// (sql/functions/75_seal.sql), sixteen slots joined by ';', a token's slot chosen by the first octet
// of its SHA-256 digest. Reading and writing it here is what any SQL on the connection can do.
import { createHash } from 'node:crypto';
import type pg from 'pg';

const SLOTS = 16;

/** The SHA-256 digest of a token's bytes: what the cache is keyed by. */
export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** The slot of a digest, as its position (1 to 16) among the setting's entries. */
export const cachePosition = (digest: Buffer): number => (digest[0]! % SLOTS) + 1;

async function slots(client: pg.ClientBase): Promise<string[]> {
  const value = ((await client.query(`SELECT current_setting('authdb.vcache', true) AS v`)).rows[0].v ?? '') as string;
  const parts = value === '' ? [] : value.split(';');
  return Array.from({ length: SLOTS }, (_, i) => parts[i] ?? '');
}

/** The entry in the digest's slot ('' when empty): whichever token's entry the slot holds. */
export async function cacheSlot(client: pg.ClientBase, digest: Buffer): Promise<string> {
  return (await slots(client))[cachePosition(digest) - 1]!;
}

/** Every entry this backend holds, empty slots left out. */
export async function cacheEntries(client: pg.ClientBase): Promise<string[]> {
  return (await slots(client)).filter((entry) => entry !== '');
}

/** Writes `entry` into the digest's slot, as a session forging or replaying an entry would. */
export async function writeCacheSlot(client: pg.ClientBase, digest: Buffer, entry: string): Promise<void> {
  const all = await slots(client);
  all[cachePosition(digest) - 1] = entry;
  await client.query('SELECT set_config($1, $2, false)', ['authdb.vcache', all.join(';')]);
}
