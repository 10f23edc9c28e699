-- Big integers as Postgres `numeric`: conversions between octet strings and integers
-- (RFC 8017 §4: OS2IP and I2OSP) and modular exponentiation by Barrett reduction.
--
-- Cost model (PostgreSQL 15, 2048-bit operands): a multiplication costs about 4 µs, a `mod` about
-- 60 µs, and any numeric operation on small values about 0.1 µs. So reduction is built from
-- multiplications only, and conversions do few operations on large values.
--
-- Conversions go through 56-bit limbs (7 octets), the largest whole number of octets a bigint
-- holds. `varbit` is addressed by bit offset in constant time, unlike `substr` on text, which
-- walks the string from its start in a multibyte database encoding.

-- OS2IP (RFC 8017 §4.2): a big-endian octet string as a non-negative integer.
-- Horner's rule over 56-bit limbs: first the limbs that precede a whole number of 448-bit
-- chunks, one at a time, then the chunks, each one statement that runs an unrolled Horner over
-- its eight limbs on small values and then a single large multiplication.
CREATE OR REPLACE FUNCTION auth._bytes_to_numeric(p_bytes bytea)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_hex    text := encode(p_bytes, 'hex');
  -- left-padded with zero bits to a whole number of 56-bit limbs (14 hex digits)
  v_bits   varbit := ('x' || lpad(v_hex, (length(v_hex) + 13) / 14 * 14, '0'))::varbit;
  v_head   int := length(v_bits) % 448;  -- bits before the first whole chunk
  v_result numeric := 0;
BEGIN
  FOR v_pos IN 1 .. v_head BY 56 LOOP
    v_result := v_result * 72057594037927936 + substring(v_bits FROM v_pos FOR 56)::bit(56)::bigint;  -- 2^56
  END LOOP;
  FOR v_pos IN v_head + 1 .. length(v_bits) BY 448 LOOP
    v_result := v_result
        * 726838724295606890549323807888004534353641360687318060281490199180639288113397923326191050713763565560762521606266177933534601628614656  -- 2^448
      + ((((((( substring(v_bits FROM v_pos       FOR 56)::bit(56)::bigint::numeric * 72057594037927936
              + substring(v_bits FROM v_pos +  56 FOR 56)::bit(56)::bigint) * 72057594037927936
              + substring(v_bits FROM v_pos + 112 FOR 56)::bit(56)::bigint) * 72057594037927936
              + substring(v_bits FROM v_pos + 168 FOR 56)::bit(56)::bigint) * 72057594037927936
              + substring(v_bits FROM v_pos + 224 FOR 56)::bit(56)::bigint) * 72057594037927936
              + substring(v_bits FROM v_pos + 280 FOR 56)::bit(56)::bigint) * 72057594037927936
              + substring(v_bits FROM v_pos + 336 FOR 56)::bit(56)::bigint) * 72057594037927936
              + substring(v_bits FROM v_pos + 392 FOR 56)::bit(56)::bigint);
  END LOOP;
  RETURN v_result;
END
$$;

-- I2OSP (RFC 8017 §4.1): a non-negative integer as a big-endian octet string of p_len octets;
-- NULL when it does not fit ("integer too large"), is negative or is not an integer.
-- Limbs are peeled off from the least significant end. Dividing by 2^56 is a multiplication by
-- 2^-56 = 5^56 / 10^56, exact in decimal; the outer loop splits off 448-bit chunks so that the
-- per-limb work runs on small values.
CREATE OR REPLACE FUNCTION auth._numeric_to_bytes(p_value numeric, p_len int)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_inv56  numeric := 0.00000000000000001387778780781445675529539585113525390625;  -- 2^-56, exact
  v_2p448  numeric := 726838724295606890549323807888004534353641360687318060281490199180639288113397923326191050713763565560762521606266177933534601628614656;  -- 2^448
  v_inv448 numeric;
  v_rest   numeric := p_value;
  v_quot   numeric;
  v_chunk  numeric;
  v_hex    text := '';
  v_part   text;
BEGIN
  IF p_value < 0 OR p_value <> trunc(p_value) OR p_len < 0 THEN
    RETURN NULL;
  END IF;
  WHILE v_rest > 0 LOOP
    IF v_rest < v_2p448 THEN
      v_chunk := v_rest;
      v_rest := 0;
    ELSE
      IF v_inv448 IS NULL THEN
        v_inv448 := v_inv56 * v_inv56;    -- 2^-112
        v_inv448 := v_inv448 * v_inv448;  -- 2^-224
        v_inv448 := v_inv448 * v_inv448;  -- 2^-448
      END IF;
      v_quot := trunc(v_rest * v_inv448);
      v_chunk := v_rest - v_quot * v_2p448;
      v_rest := v_quot;
    END IF;
    v_part := '';
    WHILE v_chunk > 0 LOOP
      v_quot := trunc(v_chunk * v_inv56);
      v_part := lpad(to_hex((v_chunk - v_quot * 72057594037927936)::bigint), 14, '0') || v_part;  -- 2^56
      v_chunk := v_quot;
    END LOOP;
    v_hex := lpad(v_part, 112, '0') || v_hex;
  END LOOP;
  v_hex := ltrim(v_hex, '0');
  IF length(v_hex) > 2 * p_len THEN
    RETURN NULL;  -- RFC 8017 §4.1 step 1: integer too large
  END IF;
  RETURN decode(lpad(v_hex, 2 * p_len, '0'), 'hex');
END
$$;

-- Barrett reduction in base 10 (Barrett 1986; HAC, Menezes et al., Algorithm 14.42).
-- For a modulus n of d decimal digits (10^(d-1) <= n < 10^d) and mu = floor(10^(2d+1) / n),
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
