// What a request on a connection that just started pays: the first auth.init in a fresh backend
// (its plpgsql functions compiled, their queries planned, the catalogue caches filled), and how many
// round trips withAuth spends around the application's own queries.
import pg from 'pg';
import { withAuth } from '../../src/with-auth.js';
import type { Algorithm } from './setup.js';

export interface FirstCall {
  /** ms of the first `SELECT auth.init(token)` in a fresh backend, one per trial, sorted. */
  first: number[];
  /** ms of a second, different token in that backend (a signature check, nothing left to compile). */
  second: number[];
  /** ms of the second token presented again (a cache hit). */
  again: number[];
}

async function timed(client: pg.Client, sql: string, values: unknown[]): Promise<number> {
  const start = process.hrtime.bigint();
  await client.query(sql, values);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** `trials` fresh backends; each verifies token ids `firstId + 2i` and `firstId + 2i + 1` of `alg`. */
export async function firstCall(url: string, admin: pg.Client, alg: Algorithm, trials: number, firstId: number): Promise<FirstCall> {
  const result: FirstCall = { first: [], second: [], again: [] };
  const { rows } = await admin.query<{ token: string }>(
    'SELECT token FROM public.bench_tokens WHERE alg = $1 AND id >= $2 ORDER BY id LIMIT $3',
    [alg, firstId, 2 * trials],
  );
  if (rows.length < 2 * trials) throw new Error(`bench: not enough ${alg} tokens for ${trials} first-call trials`);
  for (let i = 0; i < trials; i++) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      result.first.push(await timed(client, 'SELECT auth.init($1)', [rows[2 * i]!.token]));
      result.second.push(await timed(client, 'SELECT auth.init($1)', [rows[2 * i + 1]!.token]));
      result.again.push(await timed(client, 'SELECT auth.init($1)', [rows[2 * i + 1]!.token]));
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
  }
  for (const list of Object.values(result)) list.sort((a: number, b: number) => a - b);
  return result;
}

export function median(sorted: number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Round trips withAuth makes for one request whose own work is a single query (that one not counted). */
export async function withAuthRoundTrips(url: string, token: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // pg sends one query per call and waits for its answer (no pipelining): calls are round trips
    let calls = 0;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      calls += 1;
      return query(...args);
    };
    await withAuth(client, token, async (c) => {
      await c.query('SELECT count(*) FROM public.todos');
    });
    return calls - 1;
  } finally {
    await client.end();
  }
}
