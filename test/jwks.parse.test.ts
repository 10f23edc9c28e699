// Key-set parsing: which keys are kept, the algorithm each is pinned to, and what is skipped.

import { describe, expect, it } from 'vitest';
import { checkFetchUrl, freshnessSeconds, redactUrl } from '../src/jwks/fetch.js';
import { parseKeySet } from '../src/jwks/parse.js';
import { ED25519_CERT } from './support/jwks-server.js';
import { newKeyPairSync } from '../src/key-pair.js';

const ec = (curve: string) => newKeyPairSync('ec', { namedCurve: curve }).publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
const ed = () => newKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
const rsa = (bits = 2048) => newKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
const set = (...keys: unknown[]) => JSON.stringify({ keys });

describe('parseKeySet', () => {
  it('pins keys without alg where it is unambiguous: EC by curve, Ed25519 to EdDSA, RSA to RS256 by default', async () => {
    const parsed = await parseKeySet(set({ ...ec('P-256'), kid: 'e256' }, { ...ec('P-384'), kid: 'e384' }, { ...ed(), kid: 'ed' }, { ...rsa(), kid: 'r' }));
    expect(parsed.keys.map((k) => `${k.kid}:${k.alg}`)).toEqual(['e256:ES256', 'e384:ES384', 'ed:EdDSA', 'r:RS256']);
    expect(parsed.skipped).toEqual([]);
    // the registered JWK carries only public members, the kid, the alg and use
    expect(Object.keys(parsed.keys[3]!.jwk).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
  });

  it('an RSA key without alg takes the only RSA algorithm allowed, and is skipped when several are', async () => {
    const key = { ...rsa(), kid: 'r' };
    expect((await parseKeySet(set(key), ['PS256', 'ES256'])).keys[0]!.alg).toBe('PS256');
    await expect(parseKeySet(set(key), ['RS256', 'PS256'])).rejects.toThrow(/allows several \(RS256, PS256\)/);
    const withOther = await parseKeySet(set(key, { ...ed(), kid: 'ed' }), ['RS256', 'PS256', 'EdDSA']);
    expect(withOther.keys.map((k) => k.kid)).toEqual(['ed']);
    expect(withOther.skipped).toEqual([{ kid: 'r', reason: expect.stringMatching(/several/) }]);
  });

  it('skips encryption keys, keys without verify, symmetric and private keys, unknown types and curves', async () => {
    const good = { ...ed(), kid: 'good' };
    const priv = newKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    const parsed = await parseKeySet(set(
      good,
      { ...ec('P-256'), kid: 'enc', use: 'enc' },
      { ...ec('P-256'), kid: 'ops', key_ops: ['sign'] },
      { ...ec('P-256'), kid: 'opsok', key_ops: ['verify'] },
      { kty: 'oct', k: 'c2VjcmV0', kid: 'oct' },
      { ...priv, kid: 'priv' },
      { ...ec('secp256k1'), kid: 'k1' },
      { kty: 'OKP', crv: 'X25519', x: 'AAAA', kid: 'x25519' },
      { ...ec('P-256'), kid: 'mismatch', alg: 'ES384' },
      { ...rsa(), kid: 'rsa-ec', alg: 'ES256' },
      { ...ec('P-256'), kid: 'hs', alg: 'HS256' },
      { ...rsa(1024), kid: 'small', alg: 'RS256' },
      { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', kid: 'offcurve' },
      'not an object',
    ));
    expect(parsed.keys.map((k) => k.kid)).toEqual(['good', 'opsok']);
    const reasons = Object.fromEntries(parsed.skipped.map((s) => [s.kid, s.reason]));
    expect(reasons).toMatchObject({
      enc: expect.stringMatching(/not sig/),
      ops: expect.stringMatching(/key_ops/),
      oct: expect.stringMatching(/symmetric/),
      priv: expect.stringMatching(/private/),
      k1: expect.stringMatching(/unsupported curve/),
      x25519: expect.stringMatching(/unsupported OKP curve/),
      mismatch: expect.stringMatching(/needs curve P-384/),
      'rsa-ec': expect.stringMatching(/RSA key cannot be used with ES256/),
      hs: expect.stringMatching(/unsupported algorithm HS256/),
      small: expect.stringMatching(/1024 bits/),
      offcurve: expect.stringMatching(/not a valid EC public key/),
      '#14': expect.stringMatching(/not a JSON object/),
    });
  });

  it('honours the provider\'s allow-list for keys that name their alg', async () => {
    const parsed = await parseKeySet(set({ ...ed(), kid: 'ed', alg: 'EdDSA' }, { ...ec('P-256'), kid: 'es', alg: 'ES256' }), ['ES256']);
    expect(parsed.keys.map((k) => k.kid)).toEqual(['es']);
    expect(parsed.skipped[0]).toEqual({ kid: 'ed', reason: "EdDSA is not among the provider's algorithms" });
  });

  it('reads a key given only as an x5c certificate', async () => {
    const parsed = await parseKeySet(set({ kty: 'OKP', kid: 'cert', use: 'sig', x5c: [ED25519_CERT] }));
    expect(parsed.keys[0]).toMatchObject({ kid: 'cert', alg: 'EdDSA', jwk: { kty: 'OKP', crv: 'Ed25519', x: '24UaKRuZyvOSyMKUaH7M-gbikzMCGEVqVshZjR2ojTg' } });
    const wrongType = await parseKeySet(set({ kty: 'RSA', kid: 'c2', x5c: [ED25519_CERT] }, { ...ed(), kid: 'ok' }));
    expect(wrongType.skipped[0]!.reason).toMatch(/certificate holds a OKP key/);
    const garbage = await parseKeySet(set({ kty: 'RSA', kid: 'c3', x5c: ['bm90IGEgY2VydA'] }, { ...ed(), kid: 'ok' }));
    expect(garbage.skipped[0]!.reason).toMatch(/does not parse/);
  });

  it('keeps duplicate kids apart by algorithm; drops a kid that names two different keys of one algorithm', async () => {
    const parsed = await parseKeySet(set(
      { ...ec('P-256'), kid: 'shared' },
      { ...ed(), kid: 'shared' },
      { ...ed(), kid: 'twice', alg: 'EdDSA' },
      { ...ed(), kid: 'twice', alg: 'EdDSA' },
    ));
    expect(parsed.keys.map((k) => `${k.kid}:${k.alg}`)).toEqual(['shared:ES256', 'shared:EdDSA']);
    expect(parsed.skipped).toEqual([{ kid: 'twice', reason: '2 different EdDSA keys share this kid' }]);
    const same = { ...ed(), kid: 'same' };
    expect((await parseKeySet(set(same, same))).keys).toHaveLength(1);
  });

  it('rejects documents that are not a usable key set', async () => {
    await expect(parseKeySet('nope')).rejects.toThrow('not valid JSON');
    await expect(parseKeySet('[]')).rejects.toThrow('no "keys" array');
    await expect(parseKeySet('{"keys": {}}')).rejects.toThrow('no "keys" array');
    await expect(parseKeySet('{"keys": []}')).rejects.toThrow('empty');
    await expect(parseKeySet(set({ kty: 'oct', k: 'AA' }))).rejects.toThrow(/no usable key/);
  });
});

describe('fetch helpers', () => {
  it('prints URLs without userinfo, query or fragment', () => {
    expect(redactUrl('https://user:s3cret@idp.example/jwks.json?token=abc#x')).toBe('https://idp.example/jwks.json?…');
    expect(redactUrl('https://idp.example/jwks.json')).toBe('https://idp.example/jwks.json');
  });

  it('requires https except for loopback or an explicit opt-out', () => {
    expect(() => checkFetchUrl('http://idp.example/jwks.json')).toThrow(/plain http is refused/);
    expect(checkFetchUrl('http://idp.example/jwks.json', true).host).toBe('idp.example');
    for (const url of ['http://127.0.0.1:8080/j', 'http://localhost/j', 'http://[::1]:9/j', 'https://idp.example/j']) {
      expect(() => checkFetchUrl(url)).not.toThrow();
    }
    expect(() => checkFetchUrl('ftp://idp.example/j', true)).toThrow(/unsupported URL scheme/);
    expect(() => checkFetchUrl('file:///etc/passwd', true)).toThrow(/unsupported URL scheme/);
  });

  it('reads freshness from Cache-Control, then Expires', () => {
    expect(freshnessSeconds({ 'cache-control': 'public, max-age=3600, must-revalidate' })).toBe(3600);
    expect(freshnessSeconds({ 'cache-control': 'no-cache' })).toBe(0);
    expect(freshnessSeconds({ date: 'Mon, 01 Jan 2024 00:00:00 GMT', expires: 'Mon, 01 Jan 2024 01:00:00 GMT' })).toBe(3600);
    expect(freshnessSeconds({ expires: '0' })).toBe(0);
    expect(freshnessSeconds({})).toBeNull();
  });
});
