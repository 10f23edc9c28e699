-- The key store: providers, keys, revocation. Callable by the schema owner only.

-- The algorithms of auth.algorithms as one line, in the CLI's order (family, then name): the
-- hint of a refused algorithm list.
CREATE OR REPLACE FUNCTION auth._algorithm_list()
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT string_agg(a.alg, ' ' ORDER BY array_position(ARRAY['hmac', 'rsa_pkcs1', 'rsa_pss', 'ecdsa', 'eddsa'], a.family), a.alg)
    FROM auth.algorithms AS a
$$;

-- The JWK members of private key material (RFC 7518 §6.2.2 EC, §6.3.2 RSA; RFC 8037 §2 OKP `d`),
-- refused on every asymmetric key. An `oct` key's `k` is its secret and is allowed on oct keys only.
CREATE OR REPLACE FUNCTION auth._jwk_private_members()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] $$;

-- The octets of a JWK member that holds them (RFC 7518 §6.2-6.4, RFC 8037 §2: a key's integers,
-- point coordinates and secrets, base64url-encoded), for every key type's registration. Raises
-- SQLSTATE 22023 naming the key type and the member when it is missing, not a string, or not
-- canonical base64url (RFC 7515 §2: no padding, no line breaks, zero pad bits).
CREATE OR REPLACE FUNCTION auth._jwk_octets(p_jwk jsonb, p_kty text, p_member text)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  v_octets bytea;
BEGIN
  IF jsonb_typeof(p_jwk -> p_member) IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s key: member "%s" is missing or not a string', p_kty, p_member);
  END IF;
  v_octets := auth._b64url_try_decode(p_jwk ->> p_member);
  IF v_octets IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s key: "%s" is not canonical base64url', p_kty, p_member);
  END IF;
  RETURN v_octets;
END
$$;

-- auth.add_provider(name, issuer, jwks_url, audiences, algorithms, leeway_seconds)
CREATE OR REPLACE FUNCTION auth.add_provider(
    p_name           text
  , p_issuer         text
  , p_jwks_url       text    DEFAULT NULL
  , p_audiences      text[]  DEFAULT '{}'
  , p_algorithms     text[]  DEFAULT NULL
  , p_leeway_seconds int     DEFAULT 30
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_unknown text;
  v_id      bigint;
BEGIN
  SELECT string_agg(a, ', ') INTO v_unknown
    FROM unnest(p_algorithms) AS a
   WHERE a NOT IN (SELECT alg FROM auth.algorithms);
  IF v_unknown IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('unsupported algorithm(s): %s', v_unknown),
      HINT = 'supported: ' || auth._algorithm_list();
  END IF;
  INSERT INTO auth.providers (name, issuer, jwks_url, audiences, algorithms, leeway_seconds)
  VALUES (p_name, p_issuer, p_jwks_url, coalesce(p_audiences, '{}'), p_algorithms, coalesce(p_leeway_seconds, 30))
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;

-- The provider named so, its row locked for the rest of the transaction: whoever registers,
-- rotates or removes its keys waits for the others and sees their result.
CREATE OR REPLACE FUNCTION auth._lock_provider(p_name text)
RETURNS auth.providers
LANGUAGE plpgsql
AS $$
DECLARE
  v_provider auth.providers;
BEGIN
  SELECT * INTO v_provider FROM auth.providers AS p WHERE p.name = p_name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('no provider named %s', p_name);
  END IF;
  RETURN v_provider;
END
$$;

-- The RFC 7638 §3 thumbprint input: the required members of the key, in lexicographic order,
-- without white space. For `oct` keys the secret is not hashed into a public value; the key's
-- own MAC over a fixed label identifies it instead.
CREATE OR REPLACE FUNCTION auth._jwk_thumbprint(p_jwk jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  v_kty text := p_jwk ->> 'kty';
  v_pads record;
BEGIN
  IF v_kty = 'oct' THEN
    v_pads := auth._hmac_padded_keys('sha256', auth._b64url_decode(p_jwk ->> 'k'));
    RETURN 'oct:' || auth._b64url_encode(auth._hmac('sha256', v_pads.ipad_key, v_pads.opad_key,
                                                      convert_to('authdb key identifier', 'UTF8')));
  END IF;
  RETURN auth._b64url_encode(sha256(convert_to(CASE v_kty
    WHEN 'RSA' THEN format('{"e":%s,"kty":"RSA","n":%s}', to_json(p_jwk ->> 'e'), to_json(p_jwk ->> 'n'))
    WHEN 'EC'  THEN format('{"crv":%s,"kty":"EC","x":%s,"y":%s}',
                           to_json(p_jwk ->> 'crv'), to_json(p_jwk ->> 'x'), to_json(p_jwk ->> 'y'))
    WHEN 'OKP' THEN format('{"crv":%s,"kty":"OKP","x":%s}', to_json(p_jwk ->> 'crv'), to_json(p_jwk ->> 'x'))
  END, 'UTF8')));
END
$$;

-- The algorithm a key is pinned to: the caller's choice, else the JWK's own `alg`, else the only
-- algorithm its type and curve allow, else the only one of its type in the provider's allow-list.
CREATE OR REPLACE FUNCTION auth._key_algorithm(p_provider auth.providers, p_jwk jsonb, p_alg text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_kty        text := p_jwk ->> 'kty';
  v_candidates text[];
BEGIN
  IF p_alg IS NOT NULL AND p_jwk ? 'alg' AND p_jwk ->> 'alg' IS DISTINCT FROM p_alg THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('the key says alg %s, but %s was asked for', p_jwk ->> 'alg', p_alg);
  END IF;
  IF coalesce(p_alg, p_jwk ->> 'alg') IS NOT NULL THEN
    RETURN coalesce(p_alg, p_jwk ->> 'alg');
  END IF;
  SELECT array_agg(alg ORDER BY alg) INTO v_candidates
    FROM auth.algorithms
   WHERE kty = v_kty
     AND (crv IS NULL OR crv = p_jwk ->> 'crv');
  IF array_length(v_candidates, 1) > 1 AND p_provider.algorithms IS NOT NULL THEN
    v_candidates := ARRAY(SELECT unnest(v_candidates) INTERSECT SELECT unnest(p_provider.algorithms));
  END IF;
  IF array_length(v_candidates, 1) = 1 THEN
    RETURN v_candidates[1];
  END IF;
  RAISE EXCEPTION USING ERRCODE = '22023',
    MESSAGE = format('the %s key%s has no "alg" and more than one algorithm fits it', v_kty,
                     coalesce(' ' || (p_jwk ->> 'kid'), '')),
    HINT = 'give the algorithm explicitly, or restrict the provider''s algorithms';
END
$$;

-- Registers one JWK for a provider and precomputes its material; returns the key's id.
-- Refuses private keys, keys not meant for signatures, and keys whose type, curve and `alg` disagree.
-- Every path that registers keys (`authdb keys add`, JWKS sync, `authdb dev`) comes here, so the
-- per-provider limits are enforced here (docs/security.md §12): at most `max_keys` usable keys
-- (active, or retired within their grace period), which bounds the precomputed rows a hostile
-- JWKS can make the database build and store (an EC key's table, an Ed25519 key's multiples);
-- RSA key sizes are bounded in auth._register_rsa_key. A limit raises SQLSTATE 54000, which a
-- JWKS sync treats as a failure of the whole set (the provider's keys stay as they were).
CREATE OR REPLACE FUNCTION auth.add_key(
    p_provider text
  , p_jwk      jsonb
  , p_alg      text DEFAULT NULL
  , p_source   text DEFAULT 'static'
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_provider  auth.providers;
  v_kty       text;
  v_alg       text;
  v_algorithm auth.algorithms;
  v_kid       text;
  v_public    jsonb;
  v_key_id    bigint;
  v_usable    int;
BEGIN
  -- the row lock serializes concurrent registrations for the provider, so the count below holds
  v_provider := auth._lock_provider(p_provider);
  IF jsonb_typeof(p_jwk) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a JWK must be a JSON object';
  END IF;
  v_kty := p_jwk ->> 'kty';
  IF v_kty IS NULL OR v_kty NOT IN ('oct', 'RSA', 'EC', 'OKP') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('unsupported key type %s', coalesce(v_kty, '(none)'));
  END IF;
  -- RFC 7517 §9.2 and RFC 7518 §6.2.2/§6.3.2: never store private material of asymmetric keys.
  IF v_kty <> 'oct' AND p_jwk ?| auth._jwk_private_members() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'this JWK holds a private key: register the public key only';
  END IF;
  -- RFC 7517 §4.2–4.3: "use" and "key_ops" must allow verifying signatures.
  IF p_jwk ? 'use' AND p_jwk ->> 'use' IS DISTINCT FROM 'sig' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('the key''s "use" is %s, not sig', p_jwk -> 'use');
  END IF;
  IF p_jwk ? 'key_ops' AND NOT coalesce(p_jwk -> 'key_ops' @> '["verify"]', false) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the key''s "key_ops" do not include verify';
  END IF;
  IF p_jwk ? 'kid' AND (jsonb_typeof(p_jwk -> 'kid') <> 'string' OR p_jwk ->> 'kid' = '') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a key''s "kid" must be a non-empty string';
  END IF;
  v_kid := p_jwk ->> 'kid';
  v_alg := auth._key_algorithm(v_provider, p_jwk, p_alg);
  SELECT * INTO v_algorithm FROM auth.algorithms WHERE alg = v_alg;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('unsupported algorithm %s', v_alg);
  END IF;
  IF v_algorithm.kty <> v_kty THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('a %s key cannot be used with %s', v_kty, v_alg);
  END IF;
  IF v_algorithm.crv IS NOT NULL AND p_jwk ->> 'crv' IS DISTINCT FROM v_algorithm.crv THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s needs curve %s, the key has %s', v_alg, v_algorithm.crv, coalesce(p_jwk ->> 'crv', '(none)'));
  END IF;
  SELECT count(*) INTO v_usable FROM auth.keys AS k WHERE k.provider_id = v_provider.id AND auth._key_usable(k);
  IF v_usable >= v_provider.max_keys THEN
    RAISE EXCEPTION USING ERRCODE = '54000',
      MESSAGE = format('provider %s already has %s usable keys, its limit', p_provider, v_usable),
      HINT = format('revoke keys it no longer uses, or raise the limit: authdb provider update %s --max-keys N', p_provider);
  END IF;
  v_public := CASE WHEN v_kty = 'oct' THEN p_jwk - 'k' ELSE p_jwk END || jsonb_build_object('alg', v_alg);
  BEGIN
    INSERT INTO auth.keys (provider_id, kid, alg, public_jwk, thumbprint, source)
    VALUES (v_provider.id, v_kid, v_alg, v_public, auth._jwk_thumbprint(p_jwk), coalesce(p_source, 'static'))
    RETURNING id INTO v_key_id;
  EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING ERRCODE = '23505',
      MESSAGE = format('provider %s already has this key (kid %s, %s)', p_provider, coalesce(v_kid, '(none)'), v_alg);
  END;
  CASE v_kty
    WHEN 'oct' THEN PERFORM auth._register_hmac_key(v_key_id, v_alg, p_jwk);
    WHEN 'RSA' THEN PERFORM auth._register_rsa_key(v_key_id, v_alg, p_jwk);
    WHEN 'EC'  THEN PERFORM auth._register_ec_key(v_key_id, v_alg, p_jwk);
    WHEN 'OKP' THEN PERFORM auth._register_okp_key(v_key_id, v_alg, p_jwk);
  END CASE;
  RETURN v_key_id;
END
$$;

-- Revokes every key with this kid at once (docs/security.md §6: revocation is immediate).
-- The provider is needed only when two providers share the kid. Returns the number revoked.
CREATE OR REPLACE FUNCTION auth.revoke_key(p_kid text, p_provider text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_providers text[];
  v_count     int;
BEGIN
  SELECT array_agg(DISTINCT p.name ORDER BY p.name) INTO v_providers
    FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id
   WHERE k.kid = p_kid AND (p_provider IS NULL OR p.name = p_provider);
  IF v_providers IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('no key with kid %s%s', p_kid, coalesce(' for provider ' || p_provider, ''));
  END IF;
  IF array_length(v_providers, 1) > 1 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('kid %s is used by providers %s: name the provider', p_kid, array_to_string(v_providers, ', '));
  END IF;
  UPDATE auth.keys AS k
     SET status = 'revoked', revoked_at = now()
    FROM auth.providers AS p
   WHERE p.id = k.provider_id AND p.name = v_providers[1] AND k.status <> 'revoked'
     AND (k.kid = p_kid
          -- the same key published under other kids too (migration 0011) is revoked under all of them
          OR k.thumbprint IN (SELECT s.thumbprint FROM auth.keys AS s WHERE s.provider_id = p.id AND s.kid = p_kid));
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END
$$;
