-- Modular arithmetic on `numeric` integers, the one home of reduction and inversion: the NIST
-- curves (40_ec_field.sql, 41_ecdsa.sql), edwards25519 (45_ed25519.sql, 46_eddsa.sql) and RSA's
-- s^e mod n (30_rsa.sql). Octet-string conversions are in 10_bignum.sql.
--
-- Reduction. `numeric` is decimal, so a division by 10^K is exact and cheap while `mod` is a long
-- division (about 6 multiplications' worth; 60 µs against 4 µs at 2048 bits). Everything here
-- reduces by Barrett's method (HAC algorithm 14.42) in base 10, with one constant:
--     ⌊10^K / p⌋  for operands below 10^K,   m = ⌊10^K / p⌋ · 10^−K   (auth._barrett_m(p, K))
-- m is a decimal fraction, exact in numeric, at most 10^−K below 1/p. It is used in two forms:
--   * the fixed curve primes, any K covering the operands, t of either sign, |t| < 10^K:
--       red(t) = t − trunc(t·m)·p                 in [0, 2p) for t ≥ 0, (−2p, 0] for t < 0
--     (trunc(t·m) is ⌊t/p⌋ or one less in magnitude). Values are kept in that signed, loosely
--     reduced range, so subtraction needs no "+ p"; only values that are encoded or compared are
--     made canonical. The hot loops of 40_ec_field.sql and 45_ed25519.sql write red() inline:
--     a function call per product would double their cost. K is chosen per caller to cover the
--     largest sum of products it reduces.
--   * a per-key RSA modulus n of d decimal digits, K = 2d + 1 (auth._barrett_mu(n) = ⌊10^K / n⌋,
--     stored with the key), 0 <= x < 9n^2: HAC 14.42 as written, which first drops the low d − 1
--     digits of x, q = trunc(trunc(x·10^−(d−1)) · ⌊10^K / n⌋ · 10^−(d+2)), red(x) = x − q·n in
--     [0, 3n). The products there have 2d digits, and dropping those digits halves the
--     multiplication by the constant: the red(t) form above costs a 2048-bit s^e mod n 22% more
--     (280 against 342 µs on PostgreSQL 15). The curves keep the first form, in which their inline
--     loops were measured and tuned.

-- m = ⌊10^K / p⌋ · 10^−K, the Barrett reciprocal of p for operands below 10^K (see above).
-- Inlined and folded into a constant when p and K are constants.
CREATE OR REPLACE FUNCTION auth._barrett_m(p_p numeric, p_k int)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT div(('1e' || p_k::text)::numeric, p_p) * ('1e-' || p_k::text)::numeric $$;

-- a⁻¹ mod q for a prime q, canonical (0 < a⁻¹ < q); NULL when a ≡ 0 (mod q). The extended
-- Euclidean algorithm (HAC algorithm 2.142; Knuth, TAOCP vol. 2, §4.5.2, Algorithm X): about
-- 0.84·ln q division steps (150 for 256 bits) whose quotients are mostly one digit, each a cheap
-- numeric `div`; cheaper than Fermat's a^(q−2) (≈ 1.2·log2 q reductions). Not constant-time:
-- verification inverts public values only (s, and Z coordinates of public points).
CREATE OR REPLACE FUNCTION auth._mod_inverse(p_a numeric, p_q numeric)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  -- invariants: r0 ≡ t0·a, r1 ≡ t1·a (mod q); the loop is unrolled twice so that each step
  -- overwrites the older pair in place instead of shuffling variables
  v_r0 numeric := p_q;
  v_r1 numeric := mod(p_a, p_q);
  v_t0 numeric := 0;
  v_t1 numeric := 1;
  v_q  numeric;
BEGIN
  IF v_r1 < 0 THEN
    v_r1 := v_r1 + p_q;
  END IF;
  LOOP
    EXIT WHEN v_r1 = 0;
    v_q := div(v_r0, v_r1);  v_r0 := v_r0 - v_q * v_r1;  v_t0 := v_t0 - v_q * v_t1;
    EXIT WHEN v_r0 = 0;
    v_q := div(v_r1, v_r0);  v_r1 := v_r1 - v_q * v_r0;  v_t1 := v_t1 - v_q * v_t0;
  END LOOP;
  -- the last nonzero remainder is gcd(a, q), with its coefficient
  IF v_r1 = 0 THEN
    v_r1 := v_r0;  v_t1 := v_t0;
  END IF;
  IF v_r1 <> 1 THEN
    RETURN NULL;
  END IF;
  RETURN CASE WHEN v_t1 < 0 THEN v_t1 + p_q ELSE v_t1 END;
END
$$;

-- Barrett reduction for a per-key modulus (the second form above; Barrett 1986; HAC, Menezes et
-- al., Algorithm 14.42). For a modulus n of d decimal digits (10^(d-1) <= n < 10^d) and
-- mu = floor(10^(2d+1) / n),
--   q = floor(floor(x / 10^(d-1)) * mu / 10^(d+2)),  r = x - q*n
-- satisfies 0 <= r < 3n for every 0 <= x < 9n^2: with x/n - q < 1 + x/10^(2d+1) + 10^(d-1)/n
-- <= 1 + 0.9 + 1. So values may stay "lazily reduced" in [0, 3n) between steps: the product of
-- two of them is below 9n^2. Numeric is decimal, so the shifts by powers of ten are exact
-- multiplications by 10^-j and truncations: a reduction costs two multiplications, no division.
-- d, the number of decimal digits of a positive integer.
CREATE OR REPLACE FUNCTION auth._decimal_digits(p_value numeric)
RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT length(trunc(p_value)::text)
$$;

-- mu = floor(10^(2d+1) / n).
CREATE OR REPLACE FUNCTION auth._barrett_mu(p_modulus numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT div(('1e' || (2 * auth._decimal_digits(p_modulus) + 1))::numeric, p_modulus)
$$;

-- p_base ^ p_exponent mod p_modulus, by left-to-right square-and-multiply (HAC Algorithm 14.79)
-- over the bits of the exponent (most significant first, the first bit 1), with Barrett
-- reduction as above. Requires 0 <= p_base < p_modulus, p_mu = auth._barrett_mu(p_modulus) and
-- p_digits = auth._decimal_digits(p_modulus) (both precomputed with the key).
CREATE OR REPLACE FUNCTION auth._mod_pow(p_base numeric, p_exponent_bits varbit, p_modulus numeric, p_mu numeric, p_digits int)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_low    numeric := ('1e-' || (p_digits - 1))::numeric;       -- 10^-(d-1)
  v_mu     numeric := p_mu * ('1e-' || (p_digits + 2))::numeric;  -- mu / 10^(d+2)
  v_acc    numeric := p_base;
  v_x      numeric;
BEGIN
  FOR i IN 1 .. length(p_exponent_bits) - 1 LOOP
    v_x := v_acc * v_acc;
    v_acc := v_x - trunc(trunc(v_x * v_low) * v_mu) * p_modulus;
    IF get_bit(p_exponent_bits, i) = 1 THEN
      v_x := v_acc * p_base;
      v_acc := v_x - trunc(trunc(v_x * v_low) * v_mu) * p_modulus;
    END IF;
  END LOOP;
  -- from [0, 3n) to [0, n)
  IF v_acc >= p_modulus THEN
    v_acc := v_acc - p_modulus;
    IF v_acc >= p_modulus THEN
      v_acc := v_acc - p_modulus;
    END IF;
  END IF;
  RETURN v_acc;
END
$$;
