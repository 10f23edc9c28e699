// `npm run bench`: µs per token verified inside Postgres (server-side loop), cold (200 distinct
// tokens, each new to the backend) and warm (the same token again), beside node:crypto verifying the
// same tokens' signatures, with the ratio. Measured on Debian's PostgreSQL server package (a
// production build) started here in a temporary folder; the embedded binaries run numeric ~3× slower.
// Then the worst-case forged token at the default limits (bench/worst-case.ts); `npm run bench --
// --worst-case` prints that section only.
import { constants, createHmac, randomBytes, timingSafeEqual, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { base64url, SignJWT } from 'jose';
import pg from 'pg';
import { migrateUp } from '../src/migrate.js';
import { startDebianCluster, debianPgUnavailable } from '../tools/pg-cluster.js';
import { worstCaseSection } from './worst-case.js';
import { newKeyPairSync } from '../src/key-pair.js';

const TOKENS = 200;
const ISSUER = 'https://bench.test';

interface Case {
  alg: string;
  label: string;
  target?: { cold: number; warm: number };
  make(): { signingKey: KeyObject | Uint8Array; publicJwk: Record<string, unknown>; verifyNode(input: Buffer, signature: Buffer): boolean };
}

type KeyType = 'rsa' | 'ec' | 'ed25519';

function asymmetric(alg: string, type: KeyType, options: object, nodeAlg: string | null, verifyOptions: object = {}) {
  return () => {
    const { privateKey, publicKey } = newKeyPairSync(type as 'rsa', options as never) as unknown as {
      privateKey: KeyObject;
      publicKey: KeyObject;
    };
    return {
      signingKey: privateKey,
      publicJwk: { ...(publicKey.export({ format: 'jwk' }) as object), alg },
      verifyNode: (input: Buffer, signature: Buffer) => nodeVerify(nodeAlg, input, { key: publicKey, ...verifyOptions }, signature),
    };
  };
}

const CASES: Case[] = [
  {
    alg: 'HS256', label: 'HS256', make: () => {
      const secret = randomBytes(32);
      return {
        signingKey: secret,
        publicJwk: { kty: 'oct', k: base64url.encode(secret), alg: 'HS256' },
        verifyNode: (input, signature) => timingSafeEqual(createHmac('sha256', secret).update(input).digest(), signature),
      };
    },
  },
  { alg: 'RS256', label: 'RS256-2048', target: { cold: 300, warm: 30 }, make: asymmetric('RS256', 'rsa', { modulusLength: 2048 }, 'sha256') },
  { alg: 'PS256', label: 'PS256-2048', target: { cold: 400, warm: 30 }, make: asymmetric('PS256', 'rsa', { modulusLength: 2048 }, 'sha256', { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }) },
  { alg: 'ES256', label: 'ES256', target: { cold: 2000, warm: 30 }, make: asymmetric('ES256', 'ec', { namedCurve: 'P-256' }, 'sha256', { dsaEncoding: 'ieee-p1363' }) },
  { alg: 'EdDSA', label: 'EdDSA', target: { cold: 2000, warm: 30 }, make: asymmetric('EdDSA', 'ed25519', {}, null) },
  { alg: 'ES384', label: 'ES384', target: { cold: 5000, warm: 30 }, make: asymmetric('ES384', 'ec', { namedCurve: 'P-384' }, 'sha384', { dsaEncoding: 'ieee-p1363' }) },
  { alg: 'ES512', label: 'ES512', make: asymmetric('ES512', 'ec', { namedCurve: 'P-521' }, 'sha512', { dsaEncoding: 'ieee-p1363' }) },
];

// Server-side loops, so that the figures hold no client round trips.
const LOOP_FUNCTION = `
CREATE FUNCTION pg_temp.bench_verify(p_tokens text[], p_repeat int) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
  v_start timestamptz;
  v_token text;
BEGIN
  v_start := clock_timestamp();
  FOR i IN 1 .. p_repeat LOOP
    FOREACH v_token IN ARRAY p_tokens LOOP
      PERFORM auth.verify(v_token);
    END LOOP;
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - v_start) * 1e6 / (p_repeat * cardinality(p_tokens));
END $$`;

function nodeMicros(tokens: string[], verifyNode: (input: Buffer, signature: Buffer) => boolean): number {
  const parts = tokens.map((token) => {
    const [h, p, s] = token.split('.') as [string, string, string];
    return { input: Buffer.from(`${h}.${p}`), signature: Buffer.from(s, 'base64url') };
  });
  for (const { input, signature } of parts.slice(0, 20)) verifyNode(input, signature); // warm up
  const start = process.hrtime.bigint();
  for (const { input, signature } of parts) if (!verifyNode(input, signature)) throw new Error('node:crypto rejected a bench token');
  return Number(process.hrtime.bigint() - start) / 1000 / parts.length;
}

async function main() {
  const unavailable = debianPgUnavailable();
  if (unavailable) {
    console.error(`bench: ${unavailable}`);
    process.exit(1);
  }
  const cluster = await startDebianCluster();
  const admin = new pg.Client({ connectionString: cluster.url() });
  try {
    await admin.connect();
    await migrateUp(admin);
    const version = (await admin.query('SHOW server_version')).rows[0].server_version;
    if (process.argv.includes('--worst-case')) {
      await worstCaseSection(cluster.url());
      return;
    }
    await admin.query(`SELECT auth.add_provider('bench', $1, NULL, '{bench}')`, [ISSUER]);
    console.log(`authdb bench: Debian PostgreSQL ${version} (production build), ${TOKENS} distinct tokens per algorithm, server-side loop\n`);
    const header = ['algorithm', 'cold µs', 'warm µs', 'node:crypto µs', 'cold/node', 'target cold', 'target warm'];
    const rows: string[][] = [];
    for (const bench of CASES) {
      const key = bench.make();
      const kid = `bench-${bench.alg.toLowerCase()}`;
      try {
        await admin.query(`SELECT auth.add_key('bench', $1::jsonb)`, [JSON.stringify({ ...key.publicJwk, kid })]);
      } catch (error) {
        rows.push([bench.label, `not available: ${(error as Error).message.slice(0, 60)}`]);
        continue;
      }
      // what autovacuum does to a live database soon after keys are registered: statistics and the
      // visibility map, so precomputed tables are read by index-only scans
      await admin.query('VACUUM (ANALYZE) auth.keys');
      for (const table of ['auth.rsa_keys', 'auth.ec_keys', 'auth.ec_key_points', 'auth.ec_base_points', 'auth.okp_keys', 'auth.okp_key_multiples', 'auth.ed25519_base_multiples']) {
        await admin.query(`VACUUM (ANALYZE) ${table}`).catch(() => undefined);
      }
      const now = Math.floor(Date.now() / 1000);
      const tokens = await Promise.all(
        Array.from({ length: TOKENS }, (_, i) =>
          new SignJWT({ sub: `user-${i}`, jti: randomBytes(8).toString('hex') })
            .setProtectedHeader({ alg: bench.alg, kid, typ: 'JWT' })
            .setIssuer(ISSUER).setAudience('bench').setIssuedAt(now).setExpirationTime(now + 3600)
            .sign(key.signingKey),
        ),
      );
      // a new backend per algorithm: every cold token is new to it
      const client = new pg.Client({ connectionString: cluster.url() });
      await client.connect();
      try {
        await client.query(LOOP_FUNCTION);
        await client.query('SELECT pg_temp.bench_verify($1, 1)', [tokens.slice(0, 1)]); // plans, caches
        const cold = Number((await client.query('SELECT pg_temp.bench_verify($1, 1) AS us', [tokens.slice(1)])).rows[0].us);
        // the cold loop may have evicted the first token from its cache slot: verify it once more first
        await client.query('SELECT auth.verify($1)', [tokens[0]]);
        const warm = Number((await client.query('SELECT pg_temp.bench_verify($1, $2) AS us', [tokens.slice(0, 1), TOKENS])).rows[0].us);
        const node = nodeMicros(tokens, key.verifyNode);
        rows.push([
          bench.label, cold.toFixed(0), warm.toFixed(1), node.toFixed(1), `${(cold / node).toFixed(1)}×`,
          bench.target ? `≤ ${bench.target.cold}` : '', bench.target ? `≤ ${bench.target.warm}` : '',
        ]);
      } finally {
        await client.end();
      }
    }
    const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
    const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
    console.log(line(header));
    for (const row of rows) console.log(row.length === 2 ? `${row[0]!.padEnd(widths[0]!)}  ${row[1]}` : line(row));
    await worstCaseSection(cluster.url());
  } finally {
    await admin.end().catch(() => undefined);
    cluster.destroy();
  }
}

await main();
