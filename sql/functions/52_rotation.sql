-- Key rotation: a provider's published key set applied to its keys, and a provider removed.
-- `authdb sync-jwks` and `authdb provider add` fetch and parse the JWKS, then call
-- auth.apply_jwks; pg_tle and SQL-file installs call the same functions by hand.
-- Callable by the schema owner only (99_privileges.sql).

-- The modulus length in bits of an RSA JWK (RFC 7518 §6.3.1.1: `n` in the fewest octets), NULL
-- when `n` is not canonical base64url (auth.add_key then refuses the key).
CREATE OR REPLACE FUNCTION auth._jwk_rsa_bits(p_jwk jsonb)
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT 8 * (length(n) - 1) + length(ltrim(get_byte(n, 0)::bit(8)::text, '0'))
    FROM (SELECT auth._b64url_try_decode(p_jwk ->> 'n') AS n) AS m
   WHERE length(n) > 0
$$;

-- Applies a provider's key set (a JWK Set `{"keys": [...]}`, or an array of JWKs) to its keys,
-- all or nothing, under the provider's row lock (concurrent syncs serialize on it):
-- - the set must fit the provider's limits (max_keys, max_rsa_bits): a set that does not raises
--   SQLSTATE 54000, so a rotation is never half applied (docs/security.md §6, §12);
-- - a key already present (same kid, alg and material) stays, and is restored if it was retired;
--   a revoked key stays revoked, and its material is never registered again under another kid;
-- - one key under two kids is two rows, one per kid, so tokens naming either kid verify;
-- - a new key is registered through auth.add_key; one it refuses is skipped, with the reason;
-- - a kid reused with different material replaces the old key (tokens naming that kid now mean
--   the new key), unless the old key was revoked or is static: then the new one is skipped;
-- - a JWKS key missing from the set is retired: it verifies until now + the provider's grace;
-- - a set of which no key is usable changes nothing: SQLSTATE 22023 `no usable key in the set`.
-- Static keys (`authdb keys add`) are never touched. A key without "alg" is pinned as
-- auth.add_key pins it; a symmetric key is never taken from a JWKS.
CREATE OR REPLACE FUNCTION auth.apply_jwks(
    p_provider  text
  , p_keys      jsonb
  , OUT added     int
  , OUT retired   int
  , OUT restored  int
  , OUT replaced  int
  , OUT unchanged int
  , OUT skipped   jsonb
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_provider   auth.providers;
  v_entries    jsonb := CASE jsonb_typeof(p_keys) WHEN 'array' THEN p_keys
                                                  WHEN 'object' THEN p_keys -> 'keys' END;
  v_jwk        jsonb;
  v_kid        text;
  v_alg        text;
  v_thumbprint text;
  v_bits       int;
  v_found      auth.keys;
  v_revoked    boolean;
  v_kept       bigint[] := '{}';   -- stored keys present in the set
  v_delete     bigint[] := '{}';   -- stored keys whose kid now names other material
  v_add        jsonb := '[]';      -- the keys to register, in the set's order
  v_from_set   int := 0;           -- keys of the set that are not revoked material
  v_big        jsonb;              -- the first of them over max_rsa_bits
  v_earlier    int;
  v_usable     int;
BEGIN
  added := 0; retired := 0; restored := 0; replaced := 0; unchanged := 0; skipped := '[]';
  v_provider := auth._lock_provider(p_provider);
  IF jsonb_typeof(v_entries) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a key set is a JWK Set {"keys": [...]} or a JSON array of JWKs';
  END IF;

  -- What each key of the set means for the stored keys; nothing is written yet.
  FOR v_jwk IN SELECT e FROM jsonb_array_elements(v_entries) AS e LOOP
    v_kid := CASE WHEN jsonb_typeof(v_jwk -> 'kid') = 'string' THEN v_jwk ->> 'kid' END;
    BEGIN
      IF jsonb_typeof(v_jwk) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'not a JSON object';
      END IF;
      IF v_jwk ? 'kid' AND coalesce(v_kid, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = '"kid" is not a non-empty string';
      END IF;
      -- a JWKS is public: a symmetric key in it is a leaked secret, never a key to trust
      IF v_jwk ->> 'kty' = 'oct' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a symmetric (oct) key is never taken from a JWKS URL';
      END IF;
      v_alg := auth._key_algorithm(v_provider, v_jwk, NULL);
    EXCEPTION WHEN invalid_parameter_value THEN
      skipped := skipped || jsonb_build_array(jsonb_build_object('kid', v_kid, 'reason', SQLERRM));
      CONTINUE;
    END;
    v_thumbprint := auth._jwk_thumbprint(v_jwk);
    v_revoked := EXISTS (SELECT FROM auth.keys AS k
                          WHERE k.provider_id = v_provider.id AND k.status = 'revoked'
                            AND k.thumbprint = v_thumbprint AND k.alg = v_alg);
    IF NOT v_revoked THEN
      v_from_set := v_from_set + 1;
      v_bits := CASE WHEN v_jwk ->> 'kty' = 'RSA' THEN auth._jwk_rsa_bits(v_jwk) END;
      IF v_big IS NULL AND v_bits > v_provider.max_rsa_bits THEN
        v_big := jsonb_build_object('kid', v_kid, 'bits', v_bits);
      END IF;
    END IF;

    SELECT * INTO v_found FROM auth.keys AS k
     WHERE k.provider_id = v_provider.id AND k.kid IS NOT DISTINCT FROM v_kid
       AND k.alg = v_alg AND k.thumbprint = v_thumbprint
     ORDER BY k.id LIMIT 1;
    IF FOUND THEN
      v_kept := v_kept || v_found.id;
      CONTINUE;
    END IF;
    -- Revoked material stays revoked under every kid (a leaked key republished under a new kid).
    IF v_revoked THEN
      SELECT * INTO v_found FROM auth.keys AS k
       WHERE k.provider_id = v_provider.id AND k.status = 'revoked'
         AND k.thumbprint = v_thumbprint AND k.alg = v_alg
       ORDER BY k.id LIMIT 1;
      skipped := skipped || jsonb_build_array(jsonb_build_object('kid', v_kid,
        'reason', format('this key was revoked (kid %s)', coalesce(v_found.kid, '(none)'))));
      CONTINUE;
    END IF;
    IF v_kid IS NOT NULL THEN
      SELECT * INTO v_found FROM auth.keys AS k
       WHERE k.provider_id = v_provider.id AND k.kid = v_kid AND k.alg = v_alg
       ORDER BY k.id LIMIT 1;
      IF FOUND THEN
        v_kept := v_kept || v_found.id;
        IF v_found.status = 'revoked' OR v_found.source = 'static' THEN
          skipped := skipped || jsonb_build_array(jsonb_build_object('kid', v_kid,
            'reason', format('kid %s (%s) belongs to a %s key with other material', v_kid, v_alg,
                             CASE WHEN v_found.status = 'revoked' THEN 'revoked' ELSE 'static' END)));
          CONTINUE;
        END IF;
        v_delete := v_delete || v_found.id;
      END IF;
    END IF;
    v_add := v_add || jsonb_build_array(jsonb_build_object('jwk', v_jwk, 'kid', v_kid, 'alg', v_alg));
  END LOOP;

  -- The limits as auth.add_key counts them (docs/security.md §12), checked before anything is
  -- written: max_rsa_bits per key, and max_keys usable keys — the set's, plus the keys that keep
  -- verifying beside them: static keys, keys retired now (when there is a grace period) and keys
  -- retired earlier whose grace period runs.
  IF v_big IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '54000',
      MESSAGE = format('key %s is a %s-bit RSA key, over provider %s''s max_rsa_bits (%s); '
                       'the keys stay as they were (authdb provider update %s --max-rsa-bits N raises it)',
                       coalesce(v_big ->> 'kid', '(no kid)'), v_big ->> 'bits', p_provider, v_provider.max_rsa_bits, p_provider);
  END IF;
  SELECT count(*) INTO v_earlier FROM auth.keys AS k
   WHERE k.provider_id = v_provider.id AND auth._key_usable(k) AND k.id <> ALL (v_kept)
     AND (k.source = 'static' OR k.status = 'retired' OR v_provider.grace_seconds > 0);
  IF v_from_set + v_earlier > v_provider.max_keys THEN
    RAISE EXCEPTION USING ERRCODE = '54000',
      MESSAGE = format('the set has %s usable keys%s, over provider %s''s max_keys (%s); '
                       'the keys stay as they were (authdb provider update %s --max-keys N raises it)',
                       v_from_set,
                       CASE WHEN v_earlier > 0 THEN format(' and %s earlier key(s) still verify (static, or retired within their grace period)', v_earlier) ELSE '' END,
                       p_provider, v_provider.max_keys, p_provider);
  END IF;

  DELETE FROM auth.keys AS k WHERE k.id = ANY (v_delete);
  replaced := cardinality(v_delete);
  SELECT count(*) INTO unchanged FROM auth.keys AS k
   WHERE k.provider_id = v_provider.id AND k.id = ANY (v_kept) AND k.status = 'active';
  UPDATE auth.keys AS k
     SET status = 'active', retired_at = NULL, verify_until = NULL
   WHERE k.provider_id = v_provider.id AND k.id = ANY (v_kept) AND k.status = 'retired';
  GET DIAGNOSTICS restored = ROW_COUNT;
  -- Retire before adding: a key being rotated out never counts against max_keys with its successor.
  UPDATE auth.keys AS k
     SET status = 'retired', retired_at = now(),
         verify_until = now() + make_interval(secs => v_provider.grace_seconds)
   WHERE k.provider_id = v_provider.id AND k.source = 'jwks' AND k.status = 'active'
     AND k.id <> ALL (v_kept);
  GET DIAGNOSTICS retired = ROW_COUNT;

  FOR v_jwk IN SELECT e FROM jsonb_array_elements(v_add) AS e LOOP
    BEGIN
      PERFORM auth.add_key(p_provider, v_jwk -> 'jwk', v_jwk ->> 'alg', 'jwks');
      added := added + 1;
    EXCEPTION WHEN OTHERS THEN
      -- a limit refusal fails the whole set; any other refusal skips the key
      IF SQLSTATE LIKE '54%' OR SQLERRM ~ 'max_keys|max_rsa_bits' THEN
        RAISE EXCEPTION USING ERRCODE = '54000',
          MESSAGE = format('key %s refused by the database: %s; the keys stay as they were',
                           coalesce(v_jwk ->> 'kid', '(no kid)'), SQLERRM);
      END IF;
      skipped := skipped || jsonb_build_array(jsonb_build_object('kid', v_jwk -> 'kid',
        'reason', 'refused by the database: ' || SQLERRM));
    END;
  END LOOP;

  -- A set whose keys were all refused changes nothing (docs/security.md §6).
  v_usable := unchanged + restored + added;
  IF v_usable = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('no usable key in the set (%s)',
                       (SELECT string_agg(coalesce(s ->> 'kid', '?') || ': ' || (s ->> 'reason'), '; ')
                          FROM jsonb_array_elements(skipped) AS s));
  END IF;
END
$$;

-- Removes a provider and its keys (its other rows go by cascade); returns the number of keys removed.
CREATE OR REPLACE FUNCTION auth.remove_provider(p_name text)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_id    bigint := (auth._lock_provider(p_name)).id;
  v_count int;
BEGIN
  DELETE FROM auth.keys AS k WHERE k.provider_id = v_id;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  DELETE FROM auth.providers AS p WHERE p.id = v_id;
  RETURN v_count;
END
$$;
