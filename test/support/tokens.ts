// An independent token issuer for tests: keys made by node:crypto, tokens signed by jose, keys
// registered through auth.add_key. Also builds malformed tokens by hand.
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { base64url, exportJWK, SignJWT, type JWTPayload, type JWTHeaderParameters } from 'jose';
import type pg from 'pg';
import { expect } from 'vitest';
import { createTestDatabase, type TestDatabase } from './db.js';
import { newKeyPairSync } from '../../src/key-pair.js';

export type Alg = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

interface SigningKey {
  kid: string;
  alg: Alg;
  privateKey: KeyObject;
  /** What gets registered: the public JWK, or the oct JWK for HMAC. */
  jwk: Record<string, unknown>;
}

function newKey(alg: Alg, kid: string): SigningKey {
  if (alg.startsWith('HS')) {
    const bytes = Number(alg.slice(2)) / 8;
    const secret = createSecretKey(randomBytes(bytes));
    return { kid, alg, privateKey: secret, jwk: { kty: 'oct', k: base64url.encode(secret.export()), kid, alg } };
  }
  const pair = alg.startsWith('RS') || alg.startsWith('PS')
    ? newKeyPairSync('rsa', { modulusLength: 2048 })
    : alg === 'EdDSA'
      ? newKeyPairSync('ed25519')
      : newKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256'] });
  const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return { kid, alg, privateKey: pair.privateKey, jwk: { ...jwk, kid, alg } };
}

export class TestIssuer {
  readonly keys = new Map<string, SigningKey>();

  private constructor(
    private readonly pool: pg.Pool,
    readonly name: string,
    readonly issuer: string,
    readonly audience: string,
  ) {}

  /** A provider named `name` with issuer https://name.test and audience `api`. */
  static async create(pool: pg.Pool, name: string, options: { audiences?: string[] } = {}): Promise<TestIssuer> {
    const issuer = new TestIssuer(pool, name, `https://${name}.test`, 'api');
    await pool.query('SELECT auth.add_provider($1, $2, NULL, $3)', [name, issuer.issuer, options.audiences ?? ['api']]);
    return issuer;
  }

  /** Creates and registers a key; returns its kid. */
  async addKey(alg: Alg, kid = `${alg.toLowerCase()}-${this.keys.size + 1}`): Promise<string> {
    const key = newKey(alg, kid);
    await this.pool.query('SELECT auth.add_key($1, $2::jsonb)', [this.name, JSON.stringify(key.jwk)]);
    this.keys.set(kid, key);
    return kid;
  }

  key(kid: string): SigningKey {
    const key = this.keys.get(kid);
    if (!key) throw new Error(`no test key ${kid}`);
    return key;
  }

  /** Standard claims valid for ten minutes, overridable; `undefined` values drop a claim. */
  claims(overrides: JWTPayload = {}): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    const claims: JWTPayload = { iss: this.issuer, aud: this.audience, sub: 'alice', iat: now, exp: now + 600, ...overrides };
    for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
    return claims;
  }

  async sign(kid: string, overrides: JWTPayload = {}, header: Partial<JWTHeaderParameters> = {}): Promise<string> {
    const key = this.key(kid);
    return new SignJWT(this.claims(overrides))
      .setProtectedHeader({ alg: key.alg, kid, typ: 'JWT', ...header } as JWTHeaderParameters)
      .sign(key.privateKey);
  }

  /** An HS256 token from a lazily created HS256 key. */
  async hs256(overrides: JWTPayload = {}): Promise<string> {
    const kid = 'hs256-default';
    if (!this.keys.has(kid)) await this.addKey('HS256', kid);
    return this.sign(kid, overrides);
  }
}

/** A new migrated test database with one issuer, `name`, registered in it. */
export async function databaseWithIssuer(name = 'idp'): Promise<{ db: TestDatabase; issuer: TestIssuer }> {
  const db = await createTestDatabase();
  return { db, issuer: await TestIssuer.create(db.pool, name) };
}

/**
 * The rejection code auth.verify raises for `token` on `pool`, or 'accepted'. A failure other than
 * SQLSTATE 28000 `jwt rejected: CODE` fails the calling test.
 */
export async function verdictOf(pool: pg.Pool, token: string): Promise<string> {
  try {
    await pool.query('SELECT auth.verify($1)', [token]);
    return 'accepted';
  } catch (error) {
    const e = error as { code?: string; message: string };
    expect(e.code, e.message).toBe('28000');
    const match = /^jwt rejected: ([a-z_]+)$/.exec(e.message);
    expect(match, e.message).not.toBeNull();
    return match![1]!;
  }
}

/** A compact JWS assembled from raw parts (for malformed and malicious tokens). */
export function rawToken(header: string | object, payload: string | object, signature = ''): string {
  const part = (value: string | object) =>
    base64url.encode(typeof value === 'string' ? value : JSON.stringify(value));
  return `${part(header)}.${part(payload)}.${signature}`;
}

export { exportJWK };
