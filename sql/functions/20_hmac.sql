-- HS256 / HS384 / HS512: HMAC with SHA-2 (RFC 7518 §3.2).

-- Registers an `oct` JWK (RFC 7518 §6.4): stores the padded keys, never the raw secret.
-- RFC 7518 §3.2: "A key of the same size as the hash output (for instance, 256 bits for "HS256")
-- or larger MUST be used with this algorithm."
CREATE OR REPLACE FUNCTION auth._register_hmac_key(p_key_id bigint, p_alg text, p_jwk jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_algorithm auth.algorithms;
  v_secret    bytea;
  v_pads      record;
BEGIN
  SELECT * INTO v_algorithm FROM auth.algorithms WHERE alg = p_alg AND family = 'hmac';
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('an oct key cannot be used with %s', p_alg);
  END IF;
  v_secret := auth._jwk_octets(p_jwk, 'oct', 'k');  -- the secret
  IF length(v_secret) < v_algorithm.hash_bytes THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('oct key: %s needs a secret of at least %s bytes, this one has %s',
                       p_alg, v_algorithm.hash_bytes, length(v_secret));
  END IF;
  v_pads := auth._hmac_padded_keys(v_algorithm.hash, v_secret);
  INSERT INTO auth.hmac_keys (key_id, ipad_key, opad_key, key_bytes)
  VALUES (p_key_id, v_pads.ipad_key, v_pads.opad_key, length(v_secret));
END
$$;

-- RFC 7518 §3.2: compute the MAC of the signing input and compare it in constant time.
CREATE OR REPLACE FUNCTION auth._verify_hmac(p_key_id bigint, p_alg text, p_signing_input bytea, p_signature bytea)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_key  auth.hmac_keys;
  v_hash text;
BEGIN
  SELECT * INTO v_key FROM auth.hmac_keys AS k WHERE k.key_id = p_key_id;
  SELECT a.hash INTO v_hash FROM auth.algorithms AS a WHERE a.alg = p_alg AND a.family = 'hmac';
  IF v_key.key_id IS NULL OR v_hash IS NULL THEN
    RETURN false;
  END IF;
  RETURN auth._constant_time_equal(auth._hmac(v_hash, v_key.ipad_key, v_key.opad_key, p_signing_input), p_signature);
END
$$;
