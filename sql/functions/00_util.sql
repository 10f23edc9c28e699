-- Shared helpers: rejection, base64url, hashing, constant-time comparison.
--
-- Internal functions (names starting with `_`) are not executable by PUBLIC; they run beneath a
-- SECURITY DEFINER entry point whose search_path is pinned. Small SQL helpers on the hot path carry
-- no SET clause and are not STRICT, so that the planner can inline them.

-- Every rejected token ends here: SQLSTATE 28000, `jwt rejected: CODE`, and a DETAIL that names the
-- claim or header and why. Callers pass details that never contain secrets or the token.
CREATE OR REPLACE FUNCTION auth._reject(p_code text, p_detail text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'jwt rejected: ' || p_code, DETAIL = p_detail;
END
$$;

-- base64url (RFC 4648 §5) decoding that accepts only the canonical encoding (RFC 4648 §3.5;
-- RFC 7515 §2 forbids padding): alphabet [A-Za-z0-9_-], no '=', length mod 4 ≠ 1, and the unused
-- low bits of the last character zero. NULL when the text is not canonical base64url.
-- A single SQL expression, so that the planner inlines it into the parser's cached plan.
CREATE OR REPLACE FUNCTION auth._b64url_try_decode(p_text text)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN p_text ~ '^[A-Za-z0-9_-]*$'
     AND length(p_text) % 4 <> 1
     -- the last character's unused low bits: 4 of them after 2 trailing characters, 2 after 3
     AND (length(p_text) % 4 = 0
          OR (strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', right(p_text, 1)) - 1)
             & CASE length(p_text) % 4 WHEN 2 THEN 15 ELSE 3 END = 0)
    -- replace() rather than translate(): several times faster on these lengths
    THEN decode(replace(replace(p_text, '-', '+'), '_', '/') || repeat('=', (4 - length(p_text) % 4) % 4), 'base64')
  END
$$;

-- The same, raising SQLSTATE 22023 on non-canonical input (for keys and other caller input).
CREATE OR REPLACE FUNCTION auth._b64url_decode(p_text text)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_bytes bytea := auth._b64url_try_decode(p_text);
BEGIN
  IF v_bytes IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'value is not canonical base64url';
  END IF;
  RETURN v_bytes;
END
$$;

-- base64url encoding without padding (RFC 7515 §2).
CREATE OR REPLACE FUNCTION auth._b64url_encode(p_bytes bytea)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT rtrim(replace(replace(replace(encode(p_bytes, 'base64'), E'\n', ''), '+', '-'), '/', '_'), '=')
$$;

-- The hash a JWS algorithm names (RFC 7518 §3.1), by its name in auth.algorithms.
CREATE OR REPLACE FUNCTION auth._hash(p_hash text, p_data bytea)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE p_hash
    WHEN 'sha256' THEN sha256(p_data)
    WHEN 'sha384' THEN sha384(p_data)
    WHEN 'sha512' THEN sha512(p_data)
  END
$$;

-- Equality of two MACs without a timing side channel on the secret one: compare their SHA-256
-- digests instead of the values. A byte-by-byte `=` stops at the first difference and so tells an
-- attacker how much of a guess is right; here it can only tell how much of two digests agree, and
-- steering a digest needs a preimage (the "double HMAC" comparison of Brad Hill, unkeyed).
CREATE OR REPLACE FUNCTION auth._constant_time_equal(p_a bytea, p_b bytea)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT length(p_a) = length(p_b) AND length(p_a) > 0 AND sha256(p_a) = sha256(p_b)
$$;

-- HMAC (RFC 2104 §2) from precomputed padded keys: H((K' xor opad) || H((K' xor ipad) || m)).
CREATE OR REPLACE FUNCTION auth._hmac(p_hash text, p_ipad_key bytea, p_opad_key bytea, p_message bytea)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT auth._hash(p_hash, p_opad_key || auth._hash(p_hash, p_ipad_key || p_message))
$$;

-- The padded keys of RFC 2104 §2: K' is the key, hashed first when longer than the hash's block
-- (64 octets for SHA-256, 128 for SHA-384/512), then zero-padded to the block; returns
-- (K' xor 0x36…, K' xor 0x5c…).
CREATE OR REPLACE FUNCTION auth._hmac_padded_keys(p_hash text, p_key bytea, OUT ipad_key bytea, OUT opad_key bytea)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_block_size int := CASE p_hash WHEN 'sha256' THEN 64 ELSE 128 END;
  v_key        bytea := CASE WHEN length(p_key) > v_block_size THEN auth._hash(p_hash, p_key) ELSE p_key END;
  v_block      bytea := v_key || decode(repeat('00', v_block_size - length(v_key)), 'hex');
BEGIN
  ipad_key := v_block;
  opad_key := v_block;
  FOR i IN 0 .. v_block_size - 1 LOOP
    ipad_key := set_byte(ipad_key, i, get_byte(v_block, i) # 54);  -- 0x36
    opad_key := set_byte(opad_key, i, get_byte(v_block, i) # 92);  -- 0x5c
  END LOOP;
END
$$;

-- Whether a JSON value holds an object with a repeated member name at any depth. RFC 7515 §5.2
-- and RFC 7519 §4 require rejecting such headers and claim sets; jsonb would silently keep the
-- last one, so the check runs on the `json` text form, which keeps every member (and compares
-- names after unescaping, so "sub" and "\u0073ub" are the same member). plpgsql rather than SQL,
-- so that its queries are planned once per backend, not on every call.
CREATE OR REPLACE FUNCTION auth._json_has_duplicate_members(p_value json)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_duplicate boolean;
  v_nested    boolean;
  v_child     json;
BEGIN
  IF json_typeof(p_value) = 'object' THEN
    SELECT count(*) <> count(DISTINCT e.key), coalesce(bool_or(json_typeof(e.value) IN ('object', 'array')), false)
      INTO v_duplicate, v_nested
      FROM json_each(p_value) AS e;
    IF v_duplicate THEN
      RETURN true;
    END IF;
    IF v_nested THEN
      FOR v_child IN SELECT e.value FROM json_each(p_value) AS e WHERE json_typeof(e.value) IN ('object', 'array') LOOP
        IF auth._json_has_duplicate_members(v_child) THEN
          RETURN true;
        END IF;
      END LOOP;
    END IF;
  ELSIF json_typeof(p_value) = 'array' THEN
    FOR v_child IN SELECT a.value FROM json_array_elements(p_value) AS a WHERE json_typeof(a.value) IN ('object', 'array') LOOP
      IF auth._json_has_duplicate_members(v_child) THEN
        RETURN true;
      END IF;
    END LOOP;
  END IF;
  RETURN false;
END
$$;
