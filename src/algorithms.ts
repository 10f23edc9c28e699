// The JWS algorithms authdb verifies, as TypeScript sees them: one row per `auth.algorithms` row
// (migration 0001; RFC 7518 §3.1, RFC 8037 §3.1), in the order the CLI lists them. The database
// table is the source; test/contract.drift.test.ts fails when this copy, the key tables' CHECK
// constraints or auth.add_provider's hint disagree with it.

export interface Algorithm {
  family: 'hmac' | 'rsa_pkcs1' | 'rsa_pss' | 'ecdsa' | 'eddsa';
  kty: 'oct' | 'RSA' | 'EC' | 'OKP';
  crv?: string;
  /** The hash's output length, which is also an HMAC secret's minimum length (RFC 7518 §3.2). */
  hashBytes: 32 | 48 | 64;
}

export const ALGORITHMS = {
  HS256: { family: 'hmac', kty: 'oct', hashBytes: 32 },
  HS384: { family: 'hmac', kty: 'oct', hashBytes: 48 },
  HS512: { family: 'hmac', kty: 'oct', hashBytes: 64 },
  RS256: { family: 'rsa_pkcs1', kty: 'RSA', hashBytes: 32 },
  RS384: { family: 'rsa_pkcs1', kty: 'RSA', hashBytes: 48 },
  RS512: { family: 'rsa_pkcs1', kty: 'RSA', hashBytes: 64 },
  PS256: { family: 'rsa_pss', kty: 'RSA', hashBytes: 32 },
  PS384: { family: 'rsa_pss', kty: 'RSA', hashBytes: 48 },
  PS512: { family: 'rsa_pss', kty: 'RSA', hashBytes: 64 },
  ES256: { family: 'ecdsa', kty: 'EC', crv: 'P-256', hashBytes: 32 },
  ES384: { family: 'ecdsa', kty: 'EC', crv: 'P-384', hashBytes: 48 },
  ES512: { family: 'ecdsa', kty: 'EC', crv: 'P-521', hashBytes: 64 },
  EdDSA: { family: 'eddsa', kty: 'OKP', crv: 'Ed25519', hashBytes: 64 },
} as const satisfies Record<string, Algorithm>;

export type AlgorithmName = keyof typeof ALGORITHMS;

/** Every JWS algorithm authdb verifies, in the CLI's order. */
export const SUPPORTED_ALGORITHMS = Object.keys(ALGORITHMS) as AlgorithmName[];

/** The algorithm's row, or `undefined` for a name authdb does not verify (an own property only). */
export function algorithm(name: string): Algorithm | undefined {
  return Object.hasOwn(ALGORITHMS, name) ? ALGORITHMS[name as AlgorithmName] : undefined;
}

/**
 * JWK members that hold private key material (RFC 7518 §6.2.2, §6.3.2; `k`, §6.4.1, is the
 * secret of an `oct` key, so an asymmetric JWK carrying it is refused too). auth.add_key refuses
 * the same members on asymmetric keys (auth._jwk_private_members(), which leaves `k` to the oct
 * path).
 */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
