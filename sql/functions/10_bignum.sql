-- Big integers as Postgres `numeric`: conversions between octet strings and integers
-- (RFC 8017 §4: OS2IP and I2OSP).

-- OS2IP (RFC 8017 §4.2): a big-endian octet string as a non-negative integer.
-- Horner's rule over 7-octet limbs, each small enough for a bigint.
CREATE OR REPLACE FUNCTION auth._bytes_to_numeric(p_bytes bytea)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_hex    text := encode(p_bytes, 'hex');
  v_len    int := length(v_hex);
  v_head   int := v_len % 14;
  v_result numeric := 0;
  v_pos    int;
BEGIN
  IF v_head > 0 THEN
    v_result := ('x' || lpad(substr(v_hex, 1, v_head), 16, '0'))::bit(64)::bigint;
  END IF;
  v_pos := v_head + 1;
  WHILE v_pos <= v_len LOOP
    v_result := v_result * 72057594037927936 + ('x' || substr(v_hex, v_pos, 14))::bit(56)::bigint;  -- 2^56
    v_pos := v_pos + 14;
  END LOOP;
  RETURN v_result;
END
$$;

-- I2OSP (RFC 8017 §4.1): a non-negative integer as a big-endian octet string of p_len octets;
-- NULL when it does not fit ("integer too large").
CREATE OR REPLACE FUNCTION auth._numeric_to_bytes(p_value numeric, p_len int)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_rest numeric := p_value;
  v_hex  text := '';
  v_limb bigint;
BEGIN
  IF p_value < 0 OR p_value <> trunc(p_value) THEN
    RETURN NULL;
  END IF;
  WHILE v_rest > 0 LOOP
    v_limb := mod(v_rest, 72057594037927936)::bigint;  -- 2^56
    v_hex := lpad(to_hex(v_limb), 14, '0') || v_hex;
    v_rest := div(v_rest, 72057594037927936);
  END LOOP;
  v_hex := ltrim(v_hex, '0');
  IF length(v_hex) > 2 * p_len THEN
    RETURN NULL;
  END IF;
  RETURN decode(lpad(v_hex, 2 * p_len, '0'), 'hex');
END
$$;
