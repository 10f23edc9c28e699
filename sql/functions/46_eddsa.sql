-- EdDSA with Ed25519 (RFC 8032 §5.1; JOSE: RFC 8037): OKP key registration and verification.
-- Curve arithmetic and constants: 45_ed25519.sql. Tables: migration 0004_okp_keys.

-- Registers an OKP JWK (RFC 8037 §2): kty "OKP", crv "Ed25519", x = base64url(ENC(A)), 32 octets.
-- A must decode (RFC 8032 §5.1.3, canonical y < p) and lie in the prime-order subgroup: the
-- identity and the other points of order dividing 8 are rejected ([8]A = O), as are points with
-- a torsion component ([L]A != O). Registration then builds the table of multiples of -A that
-- verification reads (about 4 096 additions and one batched inversion; well under a second).
CREATE OR REPLACE FUNCTION auth._register_okp_key(p_key_id bigint, p_alg text, p_jwk jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_a     bytea;
  v_point record;
  v_ext   numeric[];
BEGIN
  IF p_alg IS DISTINCT FROM 'EdDSA' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('an OKP key cannot be used with %s', coalesce(p_alg, '(none)'));
  END IF;
  IF jsonb_typeof(p_jwk) IS DISTINCT FROM 'object' OR p_jwk ->> 'kty' IS DISTINCT FROM 'OKP' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'OKP key: "kty" must be OKP';
  END IF;
  IF p_jwk ? 'alg' AND p_jwk -> 'alg' IS DISTINCT FROM to_jsonb(p_alg) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('OKP key: the key''s "alg" %s disagrees with %s', p_jwk -> 'alg', p_alg);
  END IF;
  IF p_jwk -> 'crv' IS DISTINCT FROM '"Ed25519"'::jsonb THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('OKP key: curve %s is not supported (EdDSA keys must be Ed25519)', coalesce(p_jwk ->> 'crv', '(none)'));
  END IF;
  v_a := auth._jwk_octets(p_jwk, 'OKP', 'x');  -- the public key, ENC(A)
  IF length(v_a) <> 32 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('OKP key: an Ed25519 "x" is 32 octets, this one has %s', length(v_a));
  END IF;
  v_point := auth._ed25519_decode(v_a);
  IF v_point.problem IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('OKP key: "x" is not an Ed25519 public key (RFC 8032 §5.1.3): %s', v_point.problem);
  END IF;
  v_ext := ARRAY[v_point.x, v_point.y, 1, auth._ed25519_fe_mul(v_point.x, v_point.y)];
  IF auth._ed25519_is_identity(auth._ed25519_double(auth._ed25519_double(auth._ed25519_double(v_ext)))) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'OKP key: "x" is a point of small order (its order divides 8)';
  END IF;
  IF NOT auth._ed25519_is_identity(auth._ed25519_scalar_mult(auth._ed25519_l(), v_ext)) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'OKP key: "x" is not in the prime-order subgroup ([L]A is not the identity)';
  END IF;
  PERFORM auth._ed25519_ensure_base_table();
  INSERT INTO auth.okp_keys (key_id, crv, a, ax, ay) VALUES (p_key_id, 'Ed25519', v_a, v_point.x, v_point.y);
  -- -A = (-x, y) (RFC 8032 §5.1.7 uses [k]A on the right; we add [k](-A) on the left)
  INSERT INTO auth.okp_key_multiples (key_id, pos, ypx, ymx, t2d)
  SELECT p_key_id, m.pos, m.ypx, m.ymx, m.t2d
    FROM auth._ed25519_multiples(auth._ed25519_fe_canon(-v_point.x), v_point.y) AS m;
END
$$;

-- Verify (RFC 8032 §5.1.7), cofactorless:
--   1. The signature is R || S, 64 octets. S is little-endian and must satisfy 0 <= S < L (no
--      malleability). R's y must be canonical (< p); R itself is not decoded: it is compared
--      with the encoding of the computed point, which matches only a valid canonical encoding.
--   2. k = SHA-512(ENC(R) || ENC(A) || M) mod L, little-endian.
--   3. Check [S]B = R + [k]A, as ENC([S]B + [k](-A)) = ENC(R). Keys are in the prime-order
--      subgroup (registration), so the cofactorless and cofactored equations differ only for an R
--      with a torsion component, which this rejects; Wycheproof's vectors agree.
-- Both scalar multiplications are fixed-base: S and k are recoded into 32 signed radix-256 digits
-- each, the 64 points d_i 256^i B and d_i 256^i (-A) come from one indexed look-up, and the sum is
-- 64 mixed additions (7M each), no doublings. The comparison needs y = Y/Z and the parity of
-- x = X/Z: Y = y_R Z is checked first (no inversion), then one inversion (extended Euclid,
-- auth._mod_inverse) gives x.
-- Returns false, never raises, for any malformed signature.
CREATE OR REPLACE FUNCTION auth._verify_eddsa(p_key_id bigint, p_alg text, p_signing_input bytea, p_signature bytea)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
  c_p   CONSTANT numeric := auth._ed25519_p();
  c_l   CONSTANT numeric := auth._ed25519_l();
  c_inv CONSTANT numeric := auth._ed25519_p_inv();
  v_key   bytea;
  v_r     bytea;
  v_ry    numeric;
  v_s     numeric;
  v_k     numeric;
  v_hs    text;
  v_hk    text;
  v_ypx   numeric[];
  v_ymx   numeric[];
  v_t2d   numeric[];
  v_x     numeric := 0;   -- R' in extended coordinates, from the identity (0 : 1 : 1 : 0)
  v_y     numeric := 1;
  v_z     numeric := 1;
  v_t     numeric := 0;
  v_a     numeric;
  v_b     numeric;
  v_c     numeric;
  v_d     numeric;
BEGIN
  IF p_alg IS DISTINCT FROM 'EdDSA' OR p_signing_input IS NULL OR p_signature IS NULL
     OR length(p_signature) <> 64 THEN
    RETURN false;
  END IF;
  SELECT k.a INTO v_key FROM auth.okp_keys AS k WHERE k.key_id = p_key_id;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  -- 1. S < L; R's y canonical
  v_s := auth._ed25519_le_to_numeric(substr(p_signature, 33, 32));
  IF v_s >= c_l THEN
    RETURN false;
  END IF;
  v_r := substr(p_signature, 1, 32);
  v_ry := auth._ed25519_le_to_numeric(set_byte(v_r, 31, get_byte(v_r, 31) & 127));
  IF v_ry >= c_p THEN
    RETURN false;
  END IF;
  -- 2. k = SHA-512(R || A || M) mod L
  v_k := mod(auth._ed25519_le_to_numeric(sha512(v_r || v_key || p_signing_input)), c_l);
  -- 3. the 64 table points: digit d_i of S (of k) selects |d_i| 256^i B (of -A) at pos 128 i + |d_i| - 1,
  --    negated when d_i < 0: -(y+x, y-x, 2dxy) = (y-x, y+x, -2dxy). The digits of s are the
  --    octets of s + c minus 128 (auth._ed25519_c()): octet i is hex digits 63 - 2i and 64 - 2i.
  --    Each table is read by one index scan over the array of positions.
  v_hs := auth._ed25519_hex64(v_s + auth._ed25519_c());
  v_hk := auth._ed25519_hex64(v_k + auth._ed25519_c());
  SELECT array_agg(CASE WHEN positive THEN ypx ELSE ymx END)
       , array_agg(CASE WHEN positive THEN ymx ELSE ypx END)
       , array_agg(CASE WHEN positive THEN t2d ELSE -t2d END)
    INTO v_ypx, v_ymx, v_t2d
    FROM (
      SELECT ('x' || substr(v_hs, 63 - 2 * (b.pos / 128), 2))::bit(8)::int > 128 AS positive, b.ypx, b.ymx, b.t2d
        FROM auth.ed25519_base_multiples AS b
       WHERE b.pos = ANY (ARRAY(
               SELECT 128 * i + abs(d) - 1
                 FROM (SELECT i, ('x' || substr(v_hs, 63 - 2 * i, 2))::bit(8)::int - 128 AS d
                         FROM generate_series(0, 31) AS i) AS digits
                WHERE d <> 0))
      UNION ALL
      SELECT ('x' || substr(v_hk, 63 - 2 * (m.pos / 128), 2))::bit(8)::int > 128, m.ypx, m.ymx, m.t2d
        FROM auth.okp_key_multiples AS m
       WHERE m.key_id = p_key_id
         AND m.pos = ANY (ARRAY(
               SELECT 128 * i + abs(d) - 1
                 FROM (SELECT i, ('x' || substr(v_hk, 63 - 2 * i, 2))::bit(8)::int - 128 AS d
                         FROM generate_series(0, 31) AS i) AS digits
                WHERE d <> 0))
    ) AS points;
  -- R' = sum of the points: madd-2008-hwcd-3 (EFD, a = -1, Z2 = 1, k T2 precomputed), 7M:
  --   A = (Y1-X1)(y2-x2), B = (Y1+X1)(y2+x2), C = T1 (2d x2 y2), D = 2 Z1,
  --   X3 = (B-A)(D-C), Y3 = (D+C)(B+A), T3 = (B-A)(B+A), Z3 = (D-C)(D+C).
  -- Each product is Barrett-reduced at once (45_ed25519.sql header): |values| < 2p before the
  -- step, < 6p inside sums, so every product is below 36 p^2 < 10^165.
  FOR i IN 1..coalesce(array_length(v_ypx, 1), 0) LOOP
    v_a := (v_y - v_x) * v_ymx[i];   v_a := v_a - trunc(v_a * c_inv) * c_p;
    v_b := (v_y + v_x) * v_ypx[i];   v_b := v_b - trunc(v_b * c_inv) * c_p;
    v_c := v_t * v_t2d[i];           v_c := v_c - trunc(v_c * c_inv) * c_p;
    v_d := v_z + v_z;
    v_x := (v_b - v_a) * (v_d - v_c);  v_x := v_x - trunc(v_x * c_inv) * c_p;
    v_y := (v_d + v_c) * (v_b + v_a);  v_y := v_y - trunc(v_y * c_inv) * c_p;
    v_t := (v_b - v_a) * (v_b + v_a);  v_t := v_t - trunc(v_t * c_inv) * c_p;
    v_z := (v_d - v_c) * (v_d + v_c);  v_z := v_z - trunc(v_z * c_inv) * c_p;
  END LOOP;
  -- ENC(R') = ENC(R): y' = Y/Z equals R's y, then x' = X/Z has R's sign bit as its low bit.
  IF mod(v_y - v_ry * v_z, c_p) <> 0 THEN
    RETURN false;
  END IF;
  -- Z ≢ 0 for the complete formula (HWCD 2008 §3.1); were it 0, x would be taken as 0, never NULL
  v_x := auth._ed25519_fe_canon(auth._ed25519_fe_mul(v_x, coalesce(auth._mod_inverse(v_z, c_p), 0)));
  RETURN mod(v_x, 2) = get_byte(v_r, 31) >> 7;
END
$$;
