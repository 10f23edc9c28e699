-- ECDSA for JWS: ES256, ES384, ES512 (RFC 7518 §3.4) on P-256, P-384, P-521, built on the curve
-- arithmetic of 40_ec_field.sql. Verification is SEC 1 v2 §4.1.4 with both scalar multiplications
-- done from fixed-base tables (G's per curve, Q's per key): about nbits/8 + nbits/6 mixed additions.

-- Window widths of the fixed-base tables: 10 bits for G (built once per curve: 26/39/53 positions
-- of 512 points for P-256/384/521), 6 bits for each key (built at registration: 43/65/87 positions
-- of 32 points). A table covers ⌊nbits/w⌋ + 1 Booth positions; verification adds one point per
-- position with a nonzero digit.
CREATE OR REPLACE FUNCTION auth._ec_window(p_for_generator boolean)
RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT CASE WHEN p_for_generator THEN 10 ELSE 6 END
$$;

-- Builds the generator's table for a curve unless it is there. Runs from key registration (a
-- writer), so that verification, which only reads, finds it; concurrent builders serialize.
CREATE OR REPLACE FUNCTION auth._ec_ensure_base_table(p_crv text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_c    record;
  v_w    int := auth._ec_window(true);
  v_npos int;
BEGIN
  IF EXISTS (SELECT 1 FROM auth.ec_base_tables WHERE crv = p_crv) THEN
    RETURN;
  END IF;
  LOCK TABLE auth.ec_base_tables IN SHARE ROW EXCLUSIVE MODE;  -- readers are not blocked
  IF EXISTS (SELECT 1 FROM auth.ec_base_tables WHERE crv = p_crv) THEN
    RETURN;
  END IF;
  v_c := auth._ec_curve(p_crv);
  v_npos := v_c.nbits / v_w + 1;
  INSERT INTO auth.ec_base_tables (crv, w, npos) VALUES (p_crv, v_w, v_npos);
  INSERT INTO auth.ec_base_points (crv, idx, x, y)
  SELECT p_crv, t.idx, t.x, t.y FROM auth._ec_table(p_crv, v_c.gx, v_c.gy, v_w, v_npos) AS t;
END
$$;

-- Validates an EC public JWK for p_alg (RFC 7518 §6.2.1; SEC 1 §3.2.2.1 public key validation)
-- and stores the point with its fixed-base table. Raises 22023 naming the problem.
CREATE OR REPLACE FUNCTION auth._register_ec_key(p_key_id bigint, p_alg text, p_jwk jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_crv   text;
  v_c     record;
  v_xb    bytea;
  v_yb    bytea;
  v_x     numeric;
  v_y     numeric;
  v_w     int := auth._ec_window(false);
  v_npos  int;
BEGIN
  SELECT a.crv INTO v_crv FROM auth.algorithms AS a WHERE a.alg = p_alg AND a.family = 'ecdsa';
  IF v_crv IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('EC key: %s is not an ECDSA algorithm', coalesce(p_alg, '(none)'));
  END IF;
  IF jsonb_typeof(p_jwk) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'EC key: the JWK is not a JSON object';
  END IF;
  IF jsonb_typeof(p_jwk -> 'kty') IS DISTINCT FROM 'string' OR p_jwk ->> 'kty' <> 'EC' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'EC key: "kty" must be "EC"';
  END IF;
  IF jsonb_typeof(p_jwk -> 'crv') IS DISTINCT FROM 'string' OR p_jwk ->> 'crv' <> v_crv THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('EC key: %s needs "crv" %s, the key has %s', p_alg, v_crv, coalesce(p_jwk ->> 'crv', '(none)'));
  END IF;
  IF p_jwk ? 'alg' AND (jsonb_typeof(p_jwk -> 'alg') <> 'string' OR p_jwk ->> 'alg' <> p_alg) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('EC key: its "alg" %s does not match %s', p_jwk -> 'alg', p_alg);
  END IF;
  v_c := auth._ec_curve(v_crv);
  -- RFC 7518 §6.2.1.2–3: x and y are base64url of exactly the field's octet length.
  v_xb := auth._jwk_octets(p_jwk, 'EC', 'x');
  v_yb := auth._jwk_octets(p_jwk, 'EC', 'y');
  IF length(v_xb) <> v_c.bytes OR length(v_yb) <> v_c.bytes THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('EC key: "x" and "y" of a %s key must be %s octets each, not %s and %s',
                       v_crv, v_c.bytes, length(v_xb), length(v_yb));
  END IF;
  v_x := auth._bytes_to_numeric(v_xb);
  v_y := auth._bytes_to_numeric(v_yb);
  -- SEC 1 §3.2.2.1: coordinates in [0, p), on the curve; not O (an affine point never is), and
  -- n·Q = O holds for every curve point since h = 1.
  IF v_x >= v_c.p OR v_y >= v_c.p THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'EC key: a coordinate is not below the field prime';
  END IF;
  IF NOT auth._ec_on_curve(v_c.p, v_c.b, v_x, v_y) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('EC key: the point is not on %s', v_crv);
  END IF;

  PERFORM auth._ec_ensure_base_table(v_crv);
  v_npos := v_c.nbits / v_w + 1;
  INSERT INTO auth.ec_keys (key_id, crv, x, y, w, npos) VALUES (p_key_id, v_crv, v_x, v_y, v_w, v_npos);
  INSERT INTO auth.ec_key_points (key_id, idx, x, y)
  SELECT p_key_id, t.idx, t.x, t.y FROM auth._ec_table(v_crv, v_x, v_y, v_w, v_npos) AS t;
END
$$;

-- ECDSA verification, SEC 1 v2 §4.1.4 (FIPS 186-5 §6.4.2), signature in the JOSE form r ‖ s
-- (RFC 7518 §3.4). False, never an error, for anything that is not a valid signature.
--   1. r, s ∈ [1, n−1]                         (rejects r = 0 / s = 0: CVE-2022-21449)
--   2–3. e = leftmost nbits bits of Hash(M)    (no truncation for the three JOSE pairings)
--   4. w = s⁻¹ mod n;  u1 = e·w mod n,  u2 = r·w mod n
--   5. R = u1·G + u2·Q; reject R = O
--   6–8. accept iff x_R mod n = r
-- Step 5 sums table entries for the Booth digits of u1 (G's table) and u2 (Q's table). Step 8 needs
-- no inversion: x_R = X/Z², and x_R mod n = r ⇔ x_R ∈ {r, r + n} (x_R < p < 2n) ⇔ X ≡ r'·Z² with
-- r' = r, or r' = r + n when r + n < p. High-S signatures are valid (RFC 7518 has no low-S rule).
CREATE OR REPLACE FUNCTION auth._verify_ecdsa(p_key_id bigint, p_alg text, p_signing_input bytea, p_signature bytea)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
-- custom plans would be re-planned on every call (their estimates depend on the parameters)
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_key   record;
  v_c     record;
  v_r     numeric;
  v_s     numeric;
  v_hash  bytea;
  v_e     numeric;
  v_w     numeric;
  v_u1    numeric;
  v_u2    numeric;
  v_xs    numeric[];
  v_ys    numeric[];
  v_ge    int[];
  v_qe    int[];
  v_count int;
  v_pt    numeric[];
  v_zz    numeric;
BEGIN
  IF p_key_id IS NULL OR p_alg IS NULL OR p_signing_input IS NULL OR p_signature IS NULL THEN
    RETURN false;
  END IF;
  SELECT k.crv, a.hash, k.w AS qw, k.npos AS qnpos, bt.w AS gw, bt.npos AS gnpos INTO v_key
    FROM auth.ec_keys AS k
    JOIN auth.algorithms AS a ON a.alg = p_alg AND a.family = 'ecdsa' AND a.crv = k.crv
    JOIN auth.ec_base_tables AS bt ON bt.crv = k.crv
   WHERE k.key_id = p_key_id;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  v_c := auth._ec_curve(v_key.crv);
  IF length(p_signature) <> 2 * v_c.bytes THEN
    RETURN false;  -- a DER signature, or a truncated one
  END IF;
  v_r := auth._bytes_to_numeric(substr(p_signature, 1, v_c.bytes));
  v_s := auth._bytes_to_numeric(substr(p_signature, v_c.bytes + 1));
  IF v_r < 1 OR v_r >= v_c.n OR v_s < 1 OR v_s >= v_c.n THEN
    RETURN false;
  END IF;
  v_hash := auth._hash(v_key.hash, p_signing_input);
  v_e := auth._bytes_to_numeric(v_hash);
  IF 8 * length(v_hash) > v_c.nbits THEN
    v_e := div(v_e, 2::numeric ^ (8 * length(v_hash) - v_c.nbits));
  END IF;
  v_w := auth._mod_inverse(v_s, v_c.n);
  v_u1 := mod(v_e * v_w, v_c.n);
  v_u2 := mod(v_r * v_w, v_c.n);

  -- The table entries for the Booth digits of u1 (G's table) and u2 (Q's table), G's first, in
  -- position order (= idx order); an entry is negated for a negative digit.
  v_ge := auth._ec_booth(v_u1, v_key.gw, v_key.gnpos);
  v_qe := auth._ec_booth(v_u2, v_key.qw, v_key.qnpos);
  SELECT array_agg(g.x ORDER BY g.idx), array_agg(g.y ORDER BY g.idx) INTO v_xs, v_ys
    FROM auth.ec_base_points AS g
   WHERE g.crv = v_key.crv AND g.idx = ANY (v_ge[1:1]);
  SELECT v_xs || array_agg(q.x ORDER BY q.idx), v_ys || array_agg(q.y ORDER BY q.idx) INTO v_xs, v_ys
    FROM auth.ec_key_points AS q
   WHERE q.key_id = p_key_id AND q.idx = ANY (v_qe[1:1]);
  v_count := coalesce(array_length(v_ge, 2), 0);
  FOR i IN 1..v_count LOOP
    IF v_ge[2][i] = 1 THEN
      v_ys[i] := -v_ys[i];
    END IF;
  END LOOP;
  FOR i IN 1..coalesce(array_length(v_qe, 2), 0) LOOP
    IF v_qe[2][i] = 1 THEN
      v_ys[v_count + i] := -v_ys[v_count + i];
    END IF;
  END LOOP;

  v_pt := auth._ec_sum(v_c.p, v_c.m, v_c.m3, v_xs, v_ys);
  v_zz := mod(v_pt[3] * v_pt[3], v_c.p);
  IF v_zz IS NULL OR v_zz = 0 THEN
    RETURN false;  -- R = O
  END IF;
  RETURN coalesce(mod(v_pt[1] - v_r * v_zz, v_c.p) = 0
                   OR (v_r + v_c.n < v_c.p AND mod(v_pt[1] - (v_r + v_c.n) * v_zz, v_c.p) = 0), false);
END
$$;
