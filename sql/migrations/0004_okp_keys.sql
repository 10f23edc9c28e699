-- Up Migration
-- authdb: Ed25519 public keys (RFC 8037 OKP keys, RFC 8032 EdDSA) and their precomputed tables.
--
-- Verification (auth._verify_eddsa, sql/functions/46_eddsa.sql) computes R' = [S]B + [k](-A) with
-- two fixed-base scalar multiplications and no doublings: each scalar is written in 32 signed
-- radix-256 digits d_i in [-128, 127], and [s]P = sum_i [d_i](256^i P) is 32 mixed additions of
-- looked-up points. A table holds, for window i in 0..31 and j in 1..128, the point j * 256^i * P
-- (row pos = 128 i + j - 1), in the affine "Niels" form (y + x, y - x, 2d x y) mod p that the
-- mixed addition madd-2008-hwcd-3 consumes; -Q is (y - x, y + x, -2d x y), so negative digits
-- need no extra rows. 4096 rows per point: one table for the base point B, one per key for -A.

-- Multiples of the base point B (RFC 8032 §5.1). The rows are a pure function of the curve
-- constants; auth._ed25519_ensure_base_table() fills them the first time a key is registered.
CREATE TABLE auth.ed25519_base_multiples (
    pos  int PRIMARY KEY CHECK (pos BETWEEN 0 AND 4095)
  , ypx  numeric NOT NULL   -- y + x mod p, of j * 256^i * B with pos = 128 i + j - 1
  , ymx  numeric NOT NULL   -- y - x mod p
  , t2d  numeric NOT NULL   -- 2 d x y mod p
);

-- Registered Ed25519 keys: the encoded point A (RFC 8032 §5.1.5) and its decoding (§5.1.3).
CREATE TABLE auth.okp_keys (
    key_id  bigint PRIMARY KEY REFERENCES auth.keys (id) ON DELETE CASCADE
  , crv     text NOT NULL CHECK (crv = 'Ed25519')
  , a       bytea NOT NULL CHECK (pg_catalog.length(a) = 32)   -- the JWK's x: ENC(A), 32 octets
  , ax      numeric NOT NULL   -- affine x of A, 0 <= ax < p
  , ay      numeric NOT NULL   -- affine y of A, 0 <= ay < p
);

-- Multiples of -A for each key, same layout as auth.ed25519_base_multiples.
CREATE TABLE auth.okp_key_multiples (
    key_id  bigint NOT NULL REFERENCES auth.okp_keys (key_id) ON DELETE CASCADE
  , pos     int NOT NULL CHECK (pos BETWEEN 0 AND 4095)
  , ypx     numeric NOT NULL
  , ymx     numeric NOT NULL
  , t2d     numeric NOT NULL
  , PRIMARY KEY (key_id, pos)
);

REVOKE ALL ON auth.ed25519_base_multiples, auth.okp_keys, auth.okp_key_multiples FROM PUBLIC;

-- Down Migration
DROP TABLE auth.okp_key_multiples;
DROP TABLE auth.okp_keys;
DROP TABLE auth.ed25519_base_multiples;
