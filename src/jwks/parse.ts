// A JWK Set fetched from a provider → the public signature keys authdb may register, each pinned
// to one algorithm. Keys that cannot be used are skipped with a reason; they never fail the set.
// The SQL side (auth.add_key) validates each key again (sizes, curve points).
//
// Real documents are sloppier than RFC 7518 (docs/security.md §6): moduli with a leading zero
// octet (a DER INTEGER copied as is), members in padded standard base64, one key under two kids.
// This path reads them as jose does and registers the canonical form — minimal big-endian
// integers in unpadded base64url — so the database, and every token, stays strict.
import { X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import { algorithm, ALGORITHMS, PRIVATE_MEMBERS } from '../algorithms.js';
import { AuthdbError } from '../errors.js';

/** An asymmetric JWS algorithm authdb verifies, with the key type and curve it needs (this path registers no oct keys). */
const asymmetric = (name: string) => {
  const row = algorithm(name);
  return row?.kty === 'oct' ? undefined : row;
};
const EC_ALG_BY_CURVE: Record<string, string> = Object.fromEntries(
  Object.entries(ALGORITHMS).flatMap(([alg, row]) => (row.kty === 'EC' ? [[row.crv, alg]] : [])),
);
export const MIN_RSA_BITS = 2048;
/** More entries than any provider publishes (and than max_keys allows): the set is refused. */
export const MAX_ENTRIES = 1000;

export interface ParsedKey {
  kid: string | null;
  alg: string;
  /** RSA keys: the modulus length in bits. */
  rsaBits?: number;
  /** The public JWK to register: key members, kid, alg and use only. */
  jwk: Record<string, unknown>;
  thumbprint: string;
}

export interface SkippedKey {
  kid: string | null;
  reason: string;
}

export interface ParsedKeySet {
  keys: ParsedKey[];
  skipped: SkippedKey[];
}

/** The document is unusable as a whole (not JSON, no keys, too many, none usable). */
export class KeySetError extends AuthdbError {
  constructor(message: string) {
    super('invalid_key_set', message);
  }
}

class Skip extends Error {}

/**
 * Text from a JWKS (a kid, a reason quoting it) as it may be printed: control characters escaped,
 * so a hostile document cannot move the terminal's cursor or split a log line.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A member's value as a skip reason may quote it: strings (cut at 64 characters), else the type. */
function shown(value: unknown): string {
  if (value === undefined) return '(none)';
  if (typeof value === 'string') return printable(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  return `(a JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}

function publicMembers(jwk: Record<string, unknown>): Record<string, unknown> {
  switch (jwk.kty) {
    case 'RSA': return { kty: 'RSA', n: jwk.n, e: jwk.e };
    case 'EC': return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    default: return { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  }
}

function hasKeyMembers(jwk: Record<string, unknown>): boolean {
  return jwk.kty === 'RSA' ? jwk.n !== undefined || jwk.e !== undefined : jwk.x !== undefined;
}

/**
 * Bytes of a JWK member read as jose reads it: base64url or standard base64 (RFC 4648 §5 or §4),
 * padded or not, white space ignored; null when it is neither. Canonical base64url is the usual case.
 */
export function lenientBase64(value: string): Buffer | null {
  const compact = value.replace(/[\t\n\r ]+/g, '');
  const match = /^([A-Za-z0-9+/_-]*)(={0,2})$/.exec(compact);
  if (!match) return null;
  const body = match[1]!;
  const padding = match[2]!;
  if (body.length % 4 === 1) return null;
  if (padding && (body.length + padding.length) % 4 !== 0) return null;
  return Buffer.from(body.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** The member re-encoded as canonical base64url; RSA integers also lose leading zero octets. */
function canonicalMember(jwk: Record<string, unknown>, member: string, integer: boolean): string {
  const value = jwk[member];
  if (typeof value !== 'string') throw new Skip(`"${member}" is not a string`);
  let bytes = lenientBase64(value);
  if (bytes === null) throw new Skip(`"${member}" is not base64url`);
  if (integer) {
    // RFC 7518 §6.3.1.1: n and e are unsigned big-endian integers in the fewest octets.
    let start = 0;
    while (start < bytes.length && bytes[start] === 0) start += 1;
    bytes = bytes.subarray(start);
    if (bytes.length === 0) throw new Skip(`"${member}" is zero`);
  }
  return bytes.toString('base64url');
}

function canonicalMembers(members: Record<string, unknown>): Record<string, unknown> {
  switch (members.kty) {
    case 'RSA': return { kty: 'RSA', n: canonicalMember(members, 'n', true), e: canonicalMember(members, 'e', true) };
    case 'EC': return { kty: 'EC', crv: members.crv, x: canonicalMember(members, 'x', false), y: canonicalMember(members, 'y', false) };
    default: return { kty: members.kty, crv: members.crv, x: canonicalMember(members, 'x', false) };
  }
}

/** The public key of the leaf certificate of `x5c` (RFC 7517 §4.7), as JWK members. */
function keyFromCertificate(x5c: unknown): Record<string, unknown> {
  if (!Array.isArray(x5c) || typeof x5c[0] !== 'string') throw new Skip('"x5c" is not an array of base64 certificates');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(Buffer.from(x5c[0], 'base64'));
  } catch {
    throw new Skip('the "x5c" leaf certificate does not parse');
  }
  const jwk = certificate.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return publicMembers(jwk);
}

/**
 * The algorithm a key is pinned to. Its own `alg` must fit its type and curve. Without one: EC
 * keys by curve, Ed25519 keys EdDSA; RSA keys take the only RSA algorithm of the provider's
 * allow-list, or RS256 when the provider has no allow-list (the default of OpenID Connect, e.g.
 * Microsoft Entra ID publishes RSA keys without `alg`); with several RSA algorithms allowed the key
 * is ambiguous and skipped.
 */
function chooseAlgorithm(jwk: Record<string, unknown>, allowed: string[] | null): string {
  const kty = jwk.kty as string;
  if (jwk.alg !== undefined) {
    if (typeof jwk.alg !== 'string') throw new Skip('"alg" is not a string');
    const spec = asymmetric(jwk.alg);
    if (!spec) throw new Skip(`unsupported algorithm ${shown(jwk.alg)}`);
    if (spec.kty !== kty) throw new Skip(`a ${kty} key cannot be used with ${jwk.alg}`);
    if (spec.crv && spec.crv !== jwk.crv) throw new Skip(`${jwk.alg} needs curve ${spec.crv}, the key has ${shown(jwk.crv)}`);
    if (allowed && !allowed.includes(jwk.alg)) throw new Skip(`${jwk.alg} is not among the provider's algorithms`);
    return jwk.alg;
  }
  let alg: string | undefined;
  if (kty === 'EC') {
    alg = typeof jwk.crv === 'string' && Object.hasOwn(EC_ALG_BY_CURVE, jwk.crv) ? EC_ALG_BY_CURVE[jwk.crv] : undefined;
    if (!alg) throw new Skip(`unsupported curve ${shown(jwk.crv)}`);
  } else if (kty === 'OKP') {
    if (jwk.crv !== 'Ed25519') throw new Skip(`unsupported OKP curve ${shown(jwk.crv)}`);
    alg = 'EdDSA';
  } else {
    const rsa = allowed ? allowed.filter((a) => asymmetric(a)?.kty === 'RSA') : ['RS256'];
    if (rsa.length === 0) throw new Skip('an RSA key without "alg", and the provider allows no RSA algorithm');
    if (rsa.length > 1) throw new Skip(`an RSA key without "alg", and the provider allows several (${rsa.join(', ')})`);
    alg = rsa[0]!;
  }
  if (allowed && !allowed.includes(alg)) throw new Skip(`${alg} is not among the provider's algorithms`);
  return alg;
}

async function parseKey(entry: unknown, allowed: string[] | null): Promise<ParsedKey> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Skip('not a JSON object');
  const jwk = entry as Record<string, unknown>;
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === '')) throw new Skip('"kid" is not a non-empty string');
  // RFC 7517 §4.2, §4.3: only signature keys whose operations allow verifying.
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new Skip(`"use" is ${shown(jwk.use)}, not sig`);
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) {
    throw new Skip('"key_ops" do not include verify');
  }
  if (jwk.kty === 'oct') throw new Skip('a symmetric (oct) key is never taken from a JWKS URL');
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') throw new Skip(`unsupported key type ${shown(jwk.kty)}`);
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) throw new Skip('the JWK holds private key material');

  let members: Record<string, unknown>;
  if (hasKeyMembers(jwk)) {
    members = canonicalMembers(publicMembers(jwk));
  } else if (jwk.x5c !== undefined) {
    members = keyFromCertificate(jwk.x5c);
    if (members.kty !== jwk.kty) throw new Skip(`the certificate holds a ${String(members.kty)} key, the JWK says ${shown(jwk.kty)}`);
  } else {
    throw new Skip('no key material ("n"/"e", "x"/"y" or "x5c")');
  }
  const alg = chooseAlgorithm({ ...jwk, ...members }, allowed);
  let rsaBits: number | undefined;
  try {
    const key = await importJWK({ ...members, alg } as JWK, alg);
    const modulusLength = (key as CryptoKey).algorithm && ((key as CryptoKey).algorithm as RsaHashedKeyAlgorithm).modulusLength;
    if (members.kty === 'RSA' && typeof modulusLength === 'number') {
      if (modulusLength < MIN_RSA_BITS) throw new Skip(`an RSA key of ${modulusLength} bits (at least ${MIN_RSA_BITS} are required)`);
      rsaBits = modulusLength;
    }
  } catch (error) {
    if (error instanceof Skip) throw error;
    throw new Skip(`not a valid ${String(members.kty)} public key (${(error as Error).message})`);
  }
  const kid = (jwk.kid as string | undefined) ?? null;
  const registered: Record<string, unknown> = { ...members, alg, use: 'sig' };
  if (kid !== null) registered.kid = kid;
  return { kid, alg, ...(rsaBits === undefined ? {} : { rsaBits }), jwk: registered, thumbprint: await calculateJwkThumbprint(members as JWK, 'sha256') };
}

/**
 * Parses a JWK Set document. Throws KeySetError when the document is unusable as a whole: not
 * JSON, no `keys` array, or no usable key at all (so a sync never replaces keys with nothing).
 */
export async function parseKeySet(text: string, allowed: string[] | null = null): Promise<ParsedKeySet> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new KeySetError('the response is not valid JSON');
  }
  const entries = (document as { keys?: unknown } | null)?.keys;
  if (typeof document !== 'object' || document === null || !Array.isArray(entries)) {
    throw new KeySetError('the response is not a JWK Set (no "keys" array)');
  }
  if (entries.length === 0) throw new KeySetError('the key set is empty');
  if (entries.length > MAX_ENTRIES) throw new KeySetError(`the key set has ${entries.length} entries; at most ${MAX_ENTRIES} are read`);

  const parsed: ParsedKey[] = [];
  const skipped: SkippedKey[] = [];
  // An entry repeated (a hostile set of one key a thousand times) is parsed once.
  const seen = new Map<string, ParsedKey | Skip>();
  for (const [index, entry] of entries.entries()) {
    const kid = typeof (entry as { kid?: unknown })?.kid === 'string' ? ((entry as { kid: string }).kid) : null;
    let text: string;
    try {
      text = JSON.stringify(entry);
    } catch {
      text = `#${index}`; // nested beyond what JSON.stringify walks: parseKey skips it anyway
    }
    let outcome = seen.get(text);
    if (outcome === undefined) {
      try {
        outcome = await parseKey(entry, allowed);
      } catch (error) {
        if (!(error instanceof Skip)) throw error;
        outcome = error;
      }
      seen.set(text, outcome);
    }
    if (outcome instanceof Skip) skipped.push({ kid: kid ?? `#${index + 1}`, reason: outcome.message });
    else parsed.push(outcome);
  }

  // A kid names one key per algorithm: two different keys under one (kid, alg) are ambiguous, so
  // neither is used. The same key listed twice under one kid is kept once; one key under two kids
  // is kept under both, so tokens naming either kid verify.
  const keys: ParsedKey[] = [];
  const byKid = new Map<string, ParsedKey[]>();
  for (const key of parsed) {
    if (key.kid === null) continue;
    const slot = `${key.alg}\u0000${key.kid}`;
    byKid.set(slot, [...(byKid.get(slot) ?? []), key]);
  }
  const seenMaterial = new Set<string>();
  for (const key of parsed) {
    const sameKid = key.kid === null ? [key] : byKid.get(`${key.alg}\u0000${key.kid}`)!;
    if (new Set(sameKid.map((k) => k.thumbprint)).size > 1) {
      if (sameKid[0] === key) skipped.push({ kid: key.kid, reason: `${sameKid.length} different ${key.alg} keys share this kid` });
      continue;
    }
    const material = `${key.alg}\u0000${key.thumbprint}\u0000${key.kid ?? ''}`;
    if (seenMaterial.has(material)) continue;
    seenMaterial.add(material);
    keys.push(key);
  }
  if (keys.length === 0) throw new KeySetError(`no usable key in the set (${skipped.map((s) => `${s.kid ?? '?'}: ${s.reason}`).join('; ')})`);
  return { keys, skipped };
}
