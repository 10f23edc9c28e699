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
  PERFORM auth._audit_rejected(p_code);  -- audit trail (73_audit.sql)
  -- RAISE refuses a NULL option (SQLSTATE 22004): a rejection must stay a rejection, whatever built
  -- its arguments.
  RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'jwt rejected: ' || coalesce(p_code, 'invalid_claim'),
    DETAIL = coalesce(p_detail, '');
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

-- Whether a JSON text holds an object with a repeated member name at any depth (RFC 7515 §5.2 and
-- RFC 7519 §4 require rejecting such headers and claim sets); p_value is the same text as jsonb.
-- jsonb keeps one member per name (the last, names compared after unescaping, so "sub" and
-- "\u0073ub" are the same member); the text keeps them all. So count the members of both:
-- a member is the one place a ':' stands outside a string. Counting every ':' is cheap; the ones
-- inside strings cancel out, once the text's escaped colons (\u003a) are added to its count, since
-- jsonb's output never escapes a ':':
--   colons(text) + escaped colons(text) = members(text) + colons inside the strings, unescaped
--   colons(jsonb::text)                 = members(jsonb) + colons inside its strings
-- Without a repeated name both sides are equal. A repeat only ever lowers the second: jsonb drops
-- the earlier member, its name, and its value with every string and member inside.
-- Linear passes in C whatever the shape of the JSON: under 1 ms for a 16 KiB token, where a walk
-- in plpgsql cost a call per object, 80 ms for a payload of 4,000 empty objects (docs/security.md
-- §12).
CREATE OR REPLACE FUNCTION auth._json_has_duplicate_members(p_text text, p_value jsonb)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_text    text := p_text;
  -- escaped backslashes (two characters) removed: every backslash left starts an escape
  v_escapes text := replace(v_text, '\\', '');
  v_jsonb   text := p_value::text;
BEGIN
  RETURN (length(v_text) - length(replace(v_text, ':', '')))
       + (length(v_escapes) - length(replace(replace(v_escapes, '\u003a', ''), '\u003A', ''))) / 6
      <> length(v_jsonb) - length(replace(v_jsonb, ':', ''));
END
$$;

-- Whether a JSON value nests deeper than 32 levels: a value inside more than 32 objects and
-- arrays. Token headers and claim sets are a few levels deep (Keycloak's resource_access, the
-- deepest common one, has 4); the bound keeps a hostile token from reaching the recursion limit of
-- later tree walks (SQLSTATE 54001) and from making them expensive (docs/security.md §12).
CREATE OR REPLACE FUNCTION auth._json_too_deep(p_value jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  -- level 0 is the value itself; `.**{33}` stops descending at level 33, so the cost does not
  -- grow with the depth of the input
  SELECT jsonb_path_exists(p_value, 'strict $.**{33}')
$$;
