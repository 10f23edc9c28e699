-- Big integers as Postgres `numeric`: conversions between octet strings and integers
-- (RFC 8017 §4: OS2IP and I2OSP). Modular arithmetic, RSA's exponentiation included, lives in
-- 35_field.sql.
--
-- Cost model (PostgreSQL 15, 2048-bit operands): a multiplication costs about 4 µs, a `mod` about
-- 60 µs, and any numeric operation on small values about 0.1 µs. So conversions do few
-- operations on large values.
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
