// The per-request bench's database: authdb installed by migrateUp, 100,000 rows for 1,000 users in
// two copies of one table — `todos` behind authdb's owner policy (auth.policy_owner, which compares
// with `(select auth.user_id())`), and `todos_settings` behind the PostgREST/Supabase policy, which
// reads the claims from a plain setting that nothing verifies — and signed tokens for each
// algorithm in a table the request scripts read them from.
import { constants, createHmac, randomBytes, sign, type KeyObject } from 'node:crypto';
import pg from 'pg';
import { migrateUp } from '../../src/migrate.js';
import { newKeyPairSync } from '../../src/key-pair.js';

export const ISSUER = 'https://bench.test';
export const AUDIENCE = 'bench';
export const ROWS = 100_000;
export const USERS = 1_000;
/** The login role pgbench and the first-call probe connect as (granted authenticated and anonymous). */
export const APP_ROLE = 'bench_app';

export const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'HS256'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

const SCHEMA = `
CREATE ROLE ${APP_ROLE} LOGIN;
GRANT authenticated, anonymous TO ${APP_ROLE};

CREATE TABLE public.todos (id bigserial PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
INSERT INTO public.todos (user_id, title)
  SELECT 'user-' || (i % ${USERS}), 'todo ' || i FROM generate_series(1, ${ROWS}) AS i;
CREATE INDEX ON public.todos (user_id);
SELECT auth.policy_owner('public.todos', 'user_id');

-- The PostgREST/Supabase shape: the application server verified the token and put its claims in
-- a setting; the policy reads that setting (once per statement, like authdb's), the way Supabase's
-- auth.uid() does (an empty setting, left by an earlier transaction, is no identity).
CREATE TABLE public.todos_settings (LIKE public.todos INCLUDING ALL);
INSERT INTO public.todos_settings SELECT * FROM public.todos;
ALTER TABLE public.todos_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON public.todos_settings TO authenticated
  USING (user_id = (SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'));
GRANT SELECT ON public.todos_settings TO authenticated;

CREATE TABLE public.bench_tokens (alg text, id int, token text NOT NULL, claims text NOT NULL, PRIMARY KEY (alg, id));
GRANT SELECT ON public.bench_tokens TO ${APP_ROLE}, authenticated;
`;

interface Signer {
  jwk: Record<string, unknown>;
  sign(input: Buffer): Buffer;
}

function signer(alg: Algorithm): Signer {
  if (alg === 'HS256') {
    const secret = randomBytes(32);
    return { jwk: { kty: 'oct', k: secret.toString('base64url') }, sign: (input) => createHmac('sha256', secret).update(input).digest() };
  }
  const pair = (alg === 'ES256'
    ? newKeyPairSync('ec', { namedCurve: 'P-256' })
    : alg === 'EdDSA'
      ? newKeyPairSync('ed25519')
      : newKeyPairSync('rsa', { modulusLength: 2048 })) as { privateKey: KeyObject; publicKey: KeyObject };
  const key = pair.privateKey;
  const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  switch (alg) {
    case 'RS256': return { jwk, sign: (input) => sign('sha256', input, key) };
    // RFC 7518 §3.5: salt as long as the hash
    case 'PS256': return { jwk, sign: (input) => sign('sha256', input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }) };
    // RFC 7518 §3.4: R || S, not DER
    case 'ES256': return { jwk, sign: (input) => sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }) };
    case 'EdDSA': return { jwk, sign: (input) => sign(null, input, key) };
  }
}

/** Token `id` of an algorithm: subject `user-(id mod 1000)`, valid for two hours. */
function mint(alg: Algorithm, kid: string, s: Signer, id: number, now: number): { token: string; claims: string } {
  const claims = JSON.stringify({ sub: `user-${id % USERS}`, iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 7200, jti: `${alg}-${id}` });
  const input = `${Buffer.from(JSON.stringify({ alg, kid, typ: 'JWT' })).toString('base64url')}.${Buffer.from(claims).toString('base64url')}`;
  return { token: `${input}.${s.sign(Buffer.from(input)).toString('base64url')}`, claims };
}

/**
 * Installs authdb and the bench's tables, registers one key per algorithm and stores `tokens`
 * distinct tokens for each. Runs on a superuser connection.
 */
export async function prepareDatabase(admin: pg.Client, tokens: number): Promise<void> {
  await migrateUp(admin);
  await admin.query(SCHEMA);
  await admin.query('SELECT auth.add_provider($1, $2, NULL, $3)', ['bench', ISSUER, [AUDIENCE]]);
  const now = Math.floor(Date.now() / 1000);
  for (const alg of ALGORITHMS) {
    const s = signer(alg);
    const kid = `bench-${alg.toLowerCase()}`;
    await admin.query('SELECT auth.add_key($1, $2::jsonb)', ['bench', JSON.stringify({ ...s.jwk, alg, kid })]);
    const rows = Array.from({ length: tokens }, (_, id) => mint(alg, kid, s, id, now));
    await admin.query(
      'INSERT INTO public.bench_tokens (alg, id, token, claims) SELECT $1, t.ord - 1, t.token, t.claims FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(token, claims, ord)',
      [alg, rows.map((r) => r.token), rows.map((r) => r.claims)],
    );
  }
  // what autovacuum does to a live database: statistics, and the visibility map for index-only scans
  await admin.query('VACUUM (ANALYZE)');
}

/** The request shapes' statements, checked once on a real connection before pgbench runs them. */
export async function checkShapes(url: string, clients: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let id = 0; id < clients; id++) {
      for (const alg of ALGORITHMS) {
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        const claims = (await client.query('SELECT auth.init(token) AS claims FROM public.bench_tokens WHERE alg = $1 AND id = $2', [alg, id])).rows[0]?.claims;
        const count = Number((await client.query('SELECT count(*) AS n FROM public.todos')).rows[0].n);
        await client.query('COMMIT');
        if (claims?.sub !== `user-${id}` || count !== ROWS / USERS) {
          throw new Error(`bench: the authdb shape (${alg}) sees ${count} rows as ${claims?.sub}, expected ${ROWS / USERS} as user-${id}`);
        }
      }
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query("SELECT set_config('request.jwt.claims', claims, true) FROM public.bench_tokens WHERE alg = 'RS256' AND id = $1", [id]);
      const count = Number((await client.query('SELECT count(*) AS n FROM public.todos_settings')).rows[0].n);
      await client.query('COMMIT');
      if (count !== ROWS / USERS) throw new Error(`bench: the plain-settings shape sees ${count} rows, expected ${ROWS / USERS}`);
    }
    // and without an identity, neither policy shows a row
    await client.query('BEGIN');
    await client.query('SET LOCAL ROLE authenticated');
    const none = (await client.query('SELECT (SELECT count(*) FROM public.todos) + (SELECT count(*) FROM public.todos_settings) AS n')).rows[0].n;
    await client.query('COMMIT');
    if (Number(none) !== 0) throw new Error(`bench: without identity the policies show ${none} rows`);
  } finally {
    await client.end();
  }
}
