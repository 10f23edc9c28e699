-- RS256 / RS384 / RS512: RSASSA-PKCS1-v1_5 (RFC 7518 §3.3, RFC 8017 §8.2).
-- PS256 / PS384 / PS512: RSASSA-PSS with MGF1 and the same hash, salt length = hash length
-- (RFC 7518 §3.5, RFC 8017 §8.1).
--
-- Registration does the expensive, key-only work once: the modulus as an integer, the Barrett
-- constant (sql/functions/35_field.sql) and, for RS*, the encoded message minus the hash. A
-- verification is then one modular exponentiation, s^e mod n, and a comparison.

-- The DER encoding of DigestInfo up to the hash value (RFC 8017 §9.2, note 1).
CREATE OR REPLACE FUNCTION auth._rsa_digest_info_prefix(p_hash text)
RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT CASE p_hash
    WHEN 'sha256' THEN '\x3031300d060960864801650304020105000420'::bytea
    WHEN 'sha384' THEN '\x3041300d060960864801650304020205000430'::bytea
    WHEN 'sha512' THEN '\x3051300d060960864801650304020305000440'::bytea
  END
$$;

-- Validates an RSA public JWK (RFC 7518 §6.3.1) for one of RS*/PS* and stores its material.
-- Raises SQLSTATE 22023 naming the problem. Accepted: canonical base64url "n" and "e" without
-- leading zero octets (§6.3.1.1-2), an odd modulus of at least 2048 bits (RFC 7518 §3.3 and §3.5)
-- and at most the provider's `max_rsa_bits` (default 4096, at most 8192), and an odd exponent
-- 3 <= e < 2^32.
--
-- The bounds cap what a forged token costs (docs/security.md §12): verification is s^e mod n,
-- whose cost grows with the square of the modulus size and linearly with the exponent's bit length
-- and weight. Real keys use e = 65537 (17 bits; FIPS 186-5 asks for 2^16 < e < 2^256) and,
-- rarely, e = 3; we know of no issuer with a larger one, so 2^32 costs nobody anything and keeps the
-- worst exponent at 31 squarings and 31 multiplications, under 4 times the cost of 65537. A
-- modulus over the provider's limit raises SQLSTATE 54000 (a limit, which the DBA may raise),
-- so that a JWKS sync carrying it fails as a whole instead of dropping the key.
CREATE OR REPLACE FUNCTION auth._register_rsa_key(p_key_id bigint, p_alg text, p_jwk jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_algorithm auth.algorithms;
  v_n         bytea;
  v_e         bytea;
  v_k         int;
  v_mod_bits  int;
  v_e_bits    varbit;
  v_modulus   numeric;
  v_info      bytea;
  v_prefix    numeric;
  v_max_bits  int;
  v_provider  text;
BEGIN
  -- the provider's limit, through the key row auth.add_key inserted first
  SELECT p.max_rsa_bits, p.name INTO v_max_bits, v_provider
    FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id
   WHERE k.id = p_key_id;
  SELECT * INTO v_algorithm FROM auth.algorithms WHERE alg = p_alg AND kty = 'RSA';
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('an RSA key cannot be used with %s', p_alg);
  END IF;
  IF jsonb_typeof(p_jwk) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'RSA key: the JWK is not a JSON object';
  END IF;
  IF (p_jwk ->> 'kty') IS DISTINCT FROM 'RSA' OR jsonb_typeof(p_jwk -> 'kty') <> 'string' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'RSA key: member "kty" must be "RSA"';
  END IF;
  IF p_jwk ? 'alg' AND (jsonb_typeof(p_jwk -> 'alg') <> 'string' OR p_jwk ->> 'alg' <> p_alg) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('RSA key: its "alg" (%s) does not match %s', p_jwk -> 'alg', p_alg);
  END IF;
  -- RFC 7518 §6.3.2: members of a private key. A public key store must never hold them.
  IF p_jwk ?| auth._jwk_private_members() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'RSA key: private key members (d, p, q, ...) must not be registered';
  END IF;
  v_n := auth._jwk_octets(p_jwk, 'RSA', 'n');
  v_e := auth._jwk_octets(p_jwk, 'RSA', 'e');

  -- Modulus (RFC 7518 §6.3.1.1): the minimal big-endian octet string, so no leading zero octet.
  v_k := length(v_n);
  IF v_k = 0 OR get_byte(v_n, 0) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'RSA key: "n" is empty or has a leading zero octet';
  END IF;
  v_mod_bits := 8 * (v_k - 1) + length(ltrim(get_byte(v_n, 0)::bit(8)::text, '0'));
  IF v_mod_bits < 2048 OR v_mod_bits > 8192 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('RSA key: the modulus has %s bits; 2048 to 8192 are accepted', v_mod_bits);
  END IF;
  IF v_mod_bits > coalesce(v_max_bits, 4096) THEN
    RAISE EXCEPTION USING ERRCODE = '54000',
      MESSAGE = format('RSA key: the modulus has %s bits; this provider accepts at most %s', v_mod_bits, coalesce(v_max_bits, 4096)),
      HINT = format('a provider that really publishes larger keys is opted in with: authdb provider update %s --max-rsa-bits 8192',
                    coalesce(v_provider, 'NAME'));
  END IF;
  IF get_byte(v_n, v_k - 1) & 1 = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'RSA key: the modulus is even';
  END IF;

  -- Exponent (RFC 7518 §6.3.1.2), likewise minimal.
  IF length(v_e) = 0 OR get_byte(v_e, 0) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'RSA key: "e" is empty or has a leading zero octet';
  END IF;
  IF length(v_e) > 4 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'RSA key: the public exponent is 2^32 or larger (65537 is the usual one)';
  END IF;
  IF get_byte(v_e, length(v_e) - 1) & 1 = 0 OR v_e = '\x01'::bytea THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'RSA key: the public exponent must be odd and at least 3';
  END IF;
  v_e_bits := ('x' || encode(v_e, 'hex'))::varbit;
  v_e_bits := substring(v_e_bits FROM position(B'1' IN v_e_bits));

  v_modulus := auth._bytes_to_numeric(v_n);
  IF v_algorithm.family = 'rsa_pkcs1' THEN
    -- EMSA-PKCS1-v1_5-ENCODE (RFC 8017 §9.2), steps 2-5, with the hash value H left as zeros:
    -- EM = 0x00 || 0x01 || PS || 0x00 || DigestInfo || H, PS = k - tLen - 3 octets 0xff.
    v_info := auth._rsa_digest_info_prefix(v_algorithm.hash);
    v_prefix := auth._bytes_to_numeric(
         '\x0001'::bytea
      || decode(repeat('ff', v_k - length(v_info) - v_algorithm.hash_bytes - 3), 'hex')
      || '\x00'::bytea
      || v_info
      || decode(repeat('00', v_algorithm.hash_bytes), 'hex'));
  END IF;

  INSERT INTO auth.rsa_keys (key_id, alg, n, e, e_bits, k, mod_bits, n_digits, barrett_mu, pkcs1_prefix)
  VALUES (p_key_id, p_alg, v_modulus, auth._bytes_to_numeric(v_e), v_e_bits, v_k, v_mod_bits,
          auth._decimal_digits(v_modulus), auth._barrett_mu(v_modulus), v_prefix);
END
$$;

-- Steps 1-2 of both verifications (RFC 8017 §8.1.2 and §8.2.2), one place: the key registered
-- for p_alg in p_family, the length check (the signature is exactly k octets), s = OS2IP(S) and
-- RSAVP1 (§5.2.2): s < n, m = s^e mod n. Returns m with what the encoding check needs from the key
-- and the algorithm; m is NULL on any bad input ("invalid signature").
CREATE OR REPLACE FUNCTION auth._rsavp1(p_key_id bigint, p_alg text, p_family text, p_signature bytea,
                                        OUT m numeric, OUT mod_bits int, OUT pkcs1_prefix numeric,
                                        OUT hash text, OUT hash_bytes int)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
  v_key record;
  v_s   numeric;
BEGIN
  SELECT r.n, r.e_bits, r.k, r.mod_bits, r.n_digits, r.barrett_mu, r.pkcs1_prefix, a.hash, a.hash_bytes
    INTO v_key
    FROM auth.rsa_keys AS r
    JOIN auth.algorithms AS a ON a.alg = r.alg
   WHERE r.key_id = p_key_id AND r.alg = p_alg AND a.family = p_family;
  -- step 1: the signature is exactly k octets
  IF NOT FOUND OR length(p_signature) IS DISTINCT FROM v_key.k THEN
    RETURN;
  END IF;
  -- step 2: s = OS2IP(S); RSAVP1 requires s < n, then m = s^e mod n
  v_s := auth._bytes_to_numeric(p_signature);
  IF v_s >= v_key.n THEN
    RETURN;
  END IF;
  m := auth._mod_pow(v_s, v_key.e_bits, v_key.n, v_key.barrett_mu, v_key.n_digits);
  mod_bits := v_key.mod_bits;
  pkcs1_prefix := v_key.pkcs1_prefix;
  hash := v_key.hash;
  hash_bytes := v_key.hash_bytes;
END
$$;

-- RSASSA-PKCS1-V1_5-VERIFY (RFC 8017 §8.2.2). The encoded message is never parsed: the expected
-- one is rebuilt (§8.2.2 step 3, EMSA-PKCS1-v1_5-ENCODE) as an integer, prefix + OS2IP(H), and
-- compared with m = s^e mod n. Both are below 256^k, so comparing the integers is comparing the
-- octet strings of step 4. Any bad input gives false.
CREATE OR REPLACE FUNCTION auth._verify_rsa_pkcs1(p_key_id bigint, p_alg text, p_signing_input bytea, p_signature bytea)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
  v_vp record;
BEGIN
  -- steps 1-2
  v_vp := auth._rsavp1(p_key_id, p_alg, 'rsa_pkcs1', p_signature);
  IF v_vp.m IS NULL OR p_signing_input IS NULL THEN
    RETURN false;
  END IF;
  -- steps 3-4
  RETURN v_vp.m = v_vp.pkcs1_prefix + auth._bytes_to_numeric(auth._hash(v_vp.hash, p_signing_input));
END
$$;

-- MGF1 (RFC 8017 §B.2.1): Hash(seed || C) for the 4-octet counters C = 0, 1, ..., concatenated
-- and cut to p_len octets.
CREATE OR REPLACE FUNCTION auth._mgf1(p_hash text, p_seed bytea, p_len int)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_mask    bytea := '';
  v_counter int := 0;
BEGIN
  WHILE length(v_mask) < p_len LOOP
    v_mask := v_mask || auth._hash(p_hash, p_seed || int4send(v_counter));
    v_counter := v_counter + 1;
  END LOOP;
  RETURN substr(v_mask, 1, p_len);
END
$$;

-- RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) with EMSA-PSS-VERIFY (§9.1.2), MGF1 with the signature's
-- hash, sLen = hLen (RFC 7518 §3.5). Any bad input gives false.
CREATE OR REPLACE FUNCTION auth._verify_rsa_pss(p_key_id bigint, p_alg text, p_signing_input bytea, p_signature bytea)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
  v_vp      record;
  v_em_bits int;
  v_em_len  int;
  v_h_len   int;
  v_db_len  int;
  v_zero    int;     -- 8 emLen - emBits: leftmost bits of EM that must be zero
  v_em      bytea;
  v_h       bytea;
  v_db      varbit;
  v_ps_bits int;     -- bits of PS || 0x01 in DB
  v_salt    bytea := '';
BEGIN
  -- §8.1.2 steps 1-2: the length check and m = RSAVP1(s);
  -- EM = I2OSP(m, emLen) with emBits = modBits - 1, emLen = ceil(emBits / 8)
  v_vp := auth._rsavp1(p_key_id, p_alg, 'rsa_pss', p_signature);
  IF v_vp.m IS NULL OR p_signing_input IS NULL THEN
    RETURN false;
  END IF;
  v_em_bits := v_vp.mod_bits - 1;
  v_em_len := (v_em_bits + 7) / 8;
  v_em := auth._numeric_to_bytes(v_vp.m, v_em_len);
  v_h_len := v_vp.hash_bytes;
  -- §9.1.2 steps 3-4: room for H, salt and the two fixed octets; the trailer field 0xbc
  IF v_em IS NULL OR v_em_len < 2 * v_h_len + 2 OR get_byte(v_em, v_em_len - 1) <> 188 THEN
    RETURN false;
  END IF;
  -- step 5: EM = maskedDB || H || 0xbc
  v_db_len := v_em_len - v_h_len - 1;
  v_h := substr(v_em, v_db_len + 1, v_h_len);
  -- step 6: the leftmost 8 emLen - emBits bits of maskedDB are zero
  v_zero := 8 * v_em_len - v_em_bits;
  IF get_byte(v_em, 0) >> (8 - v_zero) <> 0 THEN
    RETURN false;
  END IF;
  -- steps 7-8: DB = maskedDB xor MGF1(H, emLen - hLen - 1), as bit strings (bytea has no xor)
  v_db := ('x' || encode(substr(v_em, 1, v_db_len), 'hex'))::varbit
        # ('x' || encode(auth._mgf1(v_vp.hash, v_h, v_db_len), 'hex'))::varbit;
  -- steps 9-10: past the leftmost 8 emLen - emBits bits (ignored), DB = 0x00..00 || 0x01 || salt
  v_ps_bits := 8 * (v_db_len - v_h_len);
  IF bit_count(substring(v_db FROM v_zero + 1 FOR v_ps_bits - v_zero - 1)) <> 0
     OR get_bit(v_db, v_ps_bits - 1) <> 1 THEN
    RETURN false;
  END IF;
  -- step 11: the salt, the last sLen = hLen octets of DB, back to octets 64 bits at a time
  FOR v_pos IN v_ps_bits + 1 .. 8 * v_db_len BY 64 LOOP
    v_salt := v_salt || int8send(substring(v_db FROM v_pos FOR 64)::bit(64)::bigint);
  END LOOP;
  -- steps 12-14: H' = Hash(0x00 x 8 || mHash || salt) must equal H
  RETURN auth._hash(v_vp.hash,
           '\x0000000000000000'::bytea || auth._hash(v_vp.hash, p_signing_input) || v_salt) = v_h;
END
$$;
