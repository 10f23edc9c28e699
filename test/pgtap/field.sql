-- Big integers and prime fields: OS2IP/I2OSP (10_bignum.sql), the shared modular arithmetic
-- auth._mod_pow, auth._mod_inverse and auth._barrett_m (35_field.sql), and the curve constants
-- built on them (40_ec_field.sql).
\ir _setup.sql
SELECT plan(33);

-- The primes: P-256's p = 2^256 − 2^224 + 2^192 + 2^96 − 1 (SP 800-186 §3.2.1.3), its order n,
-- and edwards25519's p = 2^255 − 19 (RFC 8032 §5.1).
CREATE FUNCTION pg_temp.p256() RETURNS numeric LANGUAGE sql AS $$
  SELECT power(2::numeric, 256) - power(2::numeric, 224) + power(2::numeric, 192) + power(2::numeric, 96) - 1 $$;
CREATE FUNCTION pg_temp.p256_n() RETURNS numeric LANGUAGE sql AS $$ SELECT (auth._ec_curve('P-256')).n $$;
CREATE FUNCTION pg_temp.p25519() RETURNS numeric LANGUAGE sql AS $$ SELECT power(2::numeric, 255) - 19 $$;

-- OS2IP and I2OSP (RFC 8017 §4.2, §4.1).
SELECT is(auth._bytes_to_numeric(''::bytea), 0::numeric, 'OS2IP of no octets is 0');
SELECT is(auth._bytes_to_numeric('\x0100'::bytea), 256::numeric, 'OS2IP is big-endian');
SELECT is(auth._bytes_to_numeric('\x01' || decode(repeat('00', 56), 'hex')), power(2::numeric, 448),
  'OS2IP across a whole 448-bit chunk: 2^448');
SELECT is(auth._bytes_to_numeric('\xffffffff00000001000000000000000000000000ffffffffffffffffffffffff'::bytea), pg_temp.p256(),
  'OS2IP of P-256''s p in hex is its closed form');
SELECT is(auth._numeric_to_bytes(256, 2), '\x0100'::bytea, 'I2OSP(256, 2)');
SELECT is(auth._numeric_to_bytes(1, 4), '\x00000001'::bytea, 'I2OSP pads on the left');
SELECT is(auth._numeric_to_bytes(0, 0), ''::bytea, 'I2OSP(0, 0) is no octets');
SELECT is(auth._numeric_to_bytes(256, 1), NULL, 'RFC 8017 §4.1 step 1: "integer too large" is NULL');
SELECT is(auth._numeric_to_bytes(-1, 2), NULL, 'I2OSP of a negative number is NULL');
SELECT is(auth._numeric_to_bytes(1.5, 2), NULL, 'I2OSP of a fraction is NULL');
SELECT ok(bool_and(auth._numeric_to_bytes(auth._bytes_to_numeric(v), length(v)) = v), 'I2OSP(OS2IP(x)) = x up to 4,096 bits')
  FROM (SELECT string_agg(sha512((i * 1000 + j)::text::bytea), ''::bytea) AS v
          FROM generate_series(1, 8) AS i, generate_series(1, i) AS j GROUP BY i) AS t;

-- Modular exponentiation with Barrett reduction (HAC 14.79 and 14.42): 4^13 mod 497 = 445 (HAC Example 14.78's
-- classic check, by hand: 4^13 = 67108864 = 135028·497 + 445).
SELECT is(auth._mod_pow(4, B'1101', 497, auth._barrett_mu(497), auth._decimal_digits(497)), 445::numeric, '4^13 mod 497 = 445');
-- Fermat: a^(p−1) ≡ 1 (mod p) for the prime 2^255 − 19.
SELECT is(auth._mod_pow(3, ltrim(('x' || encode(auth._numeric_to_bytes(pg_temp.p25519() - 1, 32), 'hex'))::varbit::text, '0')::varbit,
                        pg_temp.p25519(), auth._barrett_mu(pg_temp.p25519()), auth._decimal_digits(pg_temp.p25519())) % pg_temp.p25519(),
  1::numeric, 'Fermat: 3^(p−1) ≡ 1 mod 2^255 − 19');

-- auth._barrett_m (35_field.sql): m = ⌊10^K / p⌋ · 10^−K.
SELECT is(auth._barrett_m(7, 3), 0.142, '⌊1000 / 7⌋ · 10^−3 = 0.142');
SELECT is(auth._barrett_m(NULL, 3), NULL, 'STRICT: NULL in, NULL out');
SELECT ok(auth._barrett_m(pg_temp.p256(), 162) * pg_temp.p256() <= 1
      AND (auth._barrett_m(pg_temp.p256(), 162) + 1e-162) * pg_temp.p256() > 1,
  'm is at most 10^−K below 1/p (P-256, K = 162)');
-- red(t) = t − trunc(t·m)·p lies in [0, 2p) for 0 ≤ t < 10^K and in (−2p, 0] for −10^K < t ≤ 0,
-- congruent to t: checked at the largest products the curve code reduces, (2p)^2 and below.
SELECT ok(bool_and(r >= 0 AND r < 2 * p AND mod(r - t, p) = 0), 'red(t) ∈ [0, 2p) and ≡ t for t ≥ 0 (P-256)')
  FROM (SELECT t, p, t - trunc(t * auth._barrett_m(p, 162)) * p AS r
          FROM (SELECT pg_temp.p256() AS p) AS c,
               LATERAL (SELECT (2 * p - i) * (2 * p - i * 7) AS t FROM generate_series(1, 40) AS i
                        UNION ALL SELECT 0 UNION ALL SELECT p UNION ALL SELECT p * p) AS s) AS x;
SELECT ok(bool_and(r <= 0 AND r > -2 * p AND mod(r - t, p) = 0), 'red(t) ∈ (−2p, 0] and ≡ t for t ≤ 0 (P-256)')
  FROM (SELECT t, p, t - trunc(t * auth._barrett_m(p, 162)) * p AS r
          FROM (SELECT pg_temp.p256() AS p) AS c,
               LATERAL (SELECT -(2 * p - i) * (2 * p - i * 7) AS t FROM generate_series(1, 40) AS i
                        UNION ALL SELECT -p UNION ALL SELECT -p * p) AS s) AS x;

-- auth._mod_inverse (35_field.sql): a⁻¹ mod q, canonical, NULL when none exists.
SELECT is(auth._mod_inverse(3, 7), 5::numeric, '3⁻¹ ≡ 5 (mod 7)');
SELECT is(auth._mod_inverse(-3, 7), 2::numeric, 'a negative a is reduced first: (−3)⁻¹ ≡ 2 (mod 7)');
SELECT is(auth._mod_inverse(10, 7), 5::numeric, 'an a above q is reduced first: 10⁻¹ ≡ 5 (mod 7)');
SELECT is(auth._mod_inverse(0, 7), NULL, '0 has no inverse');
SELECT is(auth._mod_inverse(14, 7), NULL, 'a multiple of q has no inverse');
SELECT is(auth._mod_inverse(2, 8), NULL, 'no inverse when gcd(a, q) ≠ 1');
SELECT is(auth._mod_inverse(2, pg_temp.p25519()), (pg_temp.p25519() + 1) / 2, '2⁻¹ ≡ (p + 1)/2 (mod 2^255 − 19)');
SELECT is(auth._mod_inverse(pg_temp.p256() - 1, pg_temp.p256()), pg_temp.p256() - 1, '(p − 1)⁻¹ ≡ p − 1: −1 is its own inverse');
SELECT ok(bool_and(inv > 0 AND inv < p AND mod(a * inv, p) = 1), 'a · a⁻¹ ≡ 1 (mod p) with 0 < a⁻¹ < p, for P-256''s p')
  FROM (SELECT a, p, auth._mod_inverse(a, p) AS inv
          FROM (SELECT pg_temp.p256() AS p) AS c,
               LATERAL (SELECT auth._bytes_to_numeric(sha256(i::text::bytea)) AS a FROM generate_series(1, 25) AS i
                        UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT p - 2 UNION ALL SELECT (auth._ec_curve('P-256')).gx) AS s) AS x;
SELECT ok(bool_and(inv > 0 AND inv < n AND mod(a * inv, n) = 1), 'a · a⁻¹ ≡ 1 (mod n) for P-256''s group order n')
  FROM (SELECT a, n, auth._mod_inverse(a, n) AS inv
          FROM (SELECT pg_temp.p256_n() AS n) AS c,
               LATERAL (SELECT auth._bytes_to_numeric(sha384(i::text::bytea)) AS a FROM generate_series(1, 25) AS i) AS s) AS x;

-- The curve constants (40_ec_field.sql) against their closed forms.
SELECT is((auth._ec_curve('P-256')).p, pg_temp.p256(), 'P-256: p = 2^256 − 2^224 + 2^192 + 2^96 − 1');
SELECT is((auth._ec_curve('P-521')).p, power(2::numeric, 521) - 1, 'P-521: p = 2^521 − 1');
SELECT is((auth._ec_curve('P-256')).m, auth._barrett_m(pg_temp.p256(), 162), 'P-256''s m is auth._barrett_m(p, 162)');
SELECT ok(auth._ec_on_curve(c.p, c.b, c.gx, c.gy), 'SEC 1 §3.2.2.1: P-256''s generator is on the curve')
  FROM auth._ec_curve('P-256') AS c;
SELECT throws_ok($$SELECT auth._ec_curve('P-192')$$, '22023', 'unsupported curve P-192', 'an unknown curve raises 22023');

SELECT * FROM finish();
ROLLBACK;
