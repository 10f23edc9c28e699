// `authdb dev`: an embedded Postgres kept under .authdb/, migrated, with a local dev issuer whose
// signing key lives beside it, so tokens can be minted for local work.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import pg from 'pg';
import { startEmbedded, type EmbeddedServer } from './embedded.js';
import { migrateUp } from './migrate.js';

export const DEV_PROVIDER = 'dev';
export const DEV_ISSUER = 'https://authdb.dev.localhost';
export const DEV_AUDIENCE = 'authdb-dev';
export const DEV_DATABASE = 'authdb_dev';

export interface DevEnvironment {
  server: EmbeddedServer;
  databaseUrl: string;
  mint(claims: Record<string, unknown> & { sub: string }, expiresInSeconds?: number): Promise<string>;
}

interface DevSigningKey {
  privateJwk: JWK;
  kid: string;
}

/** The dev issuer's signing key, created once and kept under `dir` (never used outside dev). */
async function devSigningKey(dir: string): Promise<DevSigningKey> {
  const path = join(dir, 'dev-issuer.private.jwk.json');
  if (existsSync(path)) return JSON.parse(await readFile(path, 'utf8')) as DevSigningKey;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key: DevSigningKey = { privateJwk: privateKey.export({ format: 'jwk' }) as JWK, kid: `dev-${randomUUID().slice(0, 8)}` };
  await writeFile(path, JSON.stringify(key), { mode: 0o600 });
  return key;
}

function publicPart(jwk: JWK): JWK {
  const { kty, n, e } = jwk;
  return { kty, n, e };
}

async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function startDev(options: { dir: string; port?: number; onProgress?: (line: string) => void }): Promise<DevEnvironment> {
  const progress = options.onProgress ?? (() => undefined);
  await mkdir(options.dir, { recursive: true });
  const server = await startEmbedded({ dir: options.dir, port: options.port, persistent: true, onProgress: progress });
  try {
    const databaseUrl = await ensureDatabase(server.url, DEV_DATABASE);
    const signingKey = await devSigningKey(options.dir);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      progress('applying migrations');
      await migrateUp(client, progress);
      const { rowCount } = await client.query('SELECT 1 FROM auth.providers WHERE name = $1', [DEV_PROVIDER]);
      if (rowCount === 0) {
        progress(`registering the dev issuer ${DEV_ISSUER}`);
        await client.query('SELECT auth.add_provider($1, $2, NULL, $3)', [DEV_PROVIDER, DEV_ISSUER, [DEV_AUDIENCE]]);
        await client.query('SELECT auth.add_key($1, $2::jsonb)', [
          DEV_PROVIDER,
          JSON.stringify({ ...publicPart(signingKey.privateJwk), kid: signingKey.kid, alg: 'RS256', use: 'sig' }),
        ]);
      }
    } finally {
      await client.end();
    }
    const privateKey = await importJWK(signingKey.privateJwk, 'RS256');
    return {
      server,
      databaseUrl,
      mint: (claims, expiresInSeconds = 3600) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid, typ: 'JWT' })
          .setIssuer(DEV_ISSUER)
          .setAudience(DEV_AUDIENCE)
          .setIssuedAt()
          .setExpirationTime(`${expiresInSeconds}s`)
          .sign(privateKey),
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
