-- Test-only helpers of the Ed25519 suite (test/eddsa.sql.test.ts), installed by that suite into its own
-- database; not part of the shipped function set. They spell out, as functions, what
-- 46_eddsa.sql does inline: ENC(P) (RFC 8032 §5.1.2) and the signed radix-256 recoding of a scalar.

-- ENC(P) (RFC 8032 §5.1.2): y in 255 bits little-endian, the low bit of x in the top bit.
CREATE OR REPLACE FUNCTION auth._ed25519_encode(p_x numeric, p_y numeric)
RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT decode(regexp_replace(reverse(auth._ed25519_hex64(
           auth._ed25519_fe_canon(p_y) + mod(auth._ed25519_fe_canon(p_x), 2)
             * 57896044618658097711785492504343953926634992332820282019728792003956564819968)),  -- 2^255
         '(.)(.)', '\2\1', 'g'), 'hex')
$$;

-- Signed radix-256 digits of 0 <= s < 2^256 - c (about 2^255): s = sum_{i<32} d_i 256^i with -128 <= d_i <= 127,
-- read as the octets of s + 0x8080...80 minus 128 (each octet absorbs the borrow of the one below).
-- Element i + 1 of the result is d_i. (46_eddsa.sql does the same inside its table look-up.)
CREATE OR REPLACE FUNCTION auth._ed25519_radix256(p_s numeric)
RETURNS int[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT array_agg(('x' || substr(h, 63 - 2 * i, 2))::bit(8)::int - 128 ORDER BY i)
    FROM (SELECT auth._ed25519_hex64(p_s + auth._ed25519_c()) AS h) AS s
       , generate_series(0, 31) AS i
$$;

