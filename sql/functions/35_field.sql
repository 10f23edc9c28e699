-- Prime-field arithmetic shared by the curves: the NIST curves (40_ec_field.sql, 41_ecdsa.sql) and
-- edwards25519 (45_ed25519.sql, 46_eddsa.sql). Field elements are `numeric` integers.
--
-- Reduction. `numeric` is decimal, so a division by 10^K is exact and cheap while `mod` is a long
-- division (about 6 multiplications' worth). The curves therefore reduce by Barrett's method
-- (HAC algorithm 14.42) in base 10, with one convention: the reciprocal
--     m = ⌊10^K / p⌋ · 10^−K          (auth._barrett_m(p, K); a decimal fraction, exact in numeric)
-- is at most 10^−K below 1/p, so for |t| < 10^K
--     red(t) = t − trunc(t·m)·p       lies in [0, 2p) for t ≥ 0 and (−2p, 0] for t < 0
-- (trunc(t·m) is ⌊t/p⌋ or one less in magnitude). Values are kept in that signed, loosely reduced
-- range, so subtraction needs no "+ p"; only values that are encoded or compared are made
-- canonical. The hot loops write red() inline (a function call per product would double their
-- cost); K is chosen per caller to cover the largest sum of products it reduces.
-- RSA (10_bignum.sql) reduces modulo a per-key n with its own stored Barrett constant.

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
