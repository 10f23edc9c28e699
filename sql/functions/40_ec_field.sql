-- Short Weierstrass curves y² = x³ + a·x + b over GF(p) with a = −3 (the NIST curves of FIPS 186-5
-- / SP 800-186 §3.2.1): constants, field arithmetic on `numeric`, Jacobian point arithmetic and
-- fixed-base tables. The ECDSA protocol on top of it lives in 41_ecdsa.sql.
--
-- Field elements are reduced by the Barrett convention of 35_field.sql, red(t) = t − trunc(t·m)·p,
-- and kept loosely reduced (|v| < 2p). K = 2·digits(p) + 6 leaves room for a sum of a few products
-- of two such values, and m3 (K3 = 3·digits(p) + 10) for sums of products of three, which saves
-- reductions in the hot loop. Only results that leave this file are canonical.
--
-- Points are Jacobian (X, Y, Z) ↔ affine (X/Z², Y/Z³); Z ≡ 0 is the point at infinity O.

-- The curve constants (SP 800-186 §3.2.1.3–3.2.1.5; SEC 2 §2.4.2, §2.5.1, §2.6.1), with the standard
-- short names; h = 1 for all three, a = p − 3. Derived: m, the Barrett reciprocal of p (above);
-- bytes, the octet length of field elements and of r and s (RFC 7518 §3.4); nbits, the bit length
-- of n. Constant arguments are folded once per session when the plan is cached.
CREATE OR REPLACE FUNCTION auth._ec_curve(
    p_crv text
  , OUT p numeric, OUT n numeric, OUT b numeric, OUT gx numeric, OUT gy numeric
  , OUT m numeric, OUT m3 numeric, OUT bytes int, OUT nbits int)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
  CASE p_crv
  WHEN 'P-256' THEN
    -- p = 2^256 − 2^224 + 2^192 + 2^96 − 1
    p  := auth._bytes_to_numeric('\xffffffff00000001000000000000000000000000ffffffffffffffffffffffff'::bytea);
    n  := auth._bytes_to_numeric('\xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'::bytea);
    b  := auth._bytes_to_numeric('\x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b'::bytea);
    gx := auth._bytes_to_numeric('\x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296'::bytea);
    gy := auth._bytes_to_numeric('\x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'::bytea);
    bytes := 32; nbits := 256;
    m  := auth._barrett_m(p, 162);  -- K = 2·78 + 6
    m3 := auth._barrett_m(p, 244);  -- K3 = 3·78 + 10
  WHEN 'P-384' THEN
    -- p = 2^384 − 2^128 − 2^96 + 2^32 − 1
    p  := auth._bytes_to_numeric('\xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff'::bytea);
    n  := auth._bytes_to_numeric('\xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973'::bytea);
    b  := auth._bytes_to_numeric('\xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef'::bytea);
    gx := auth._bytes_to_numeric('\xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7'::bytea);
    gy := auth._bytes_to_numeric('\x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f'::bytea);
    bytes := 48; nbits := 384;
    m  := auth._barrett_m(p, 238);  -- K = 2·116 + 6
    m3 := auth._barrett_m(p, 358);  -- K3 = 3·116 + 10
  WHEN 'P-521' THEN
    -- p = 2^521 − 1
    p  := auth._bytes_to_numeric('\x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'::bytea);
    n  := auth._bytes_to_numeric('\x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409'::bytea);
    b  := auth._bytes_to_numeric('\x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00'::bytea);
    gx := auth._bytes_to_numeric('\x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66'::bytea);
    gy := auth._bytes_to_numeric('\x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650'::bytea);
    bytes := 66; nbits := 521;
    m  := auth._barrett_m(p, 320);  -- K = 2·157 + 6
    m3 := auth._barrett_m(p, 481);  -- K3 = 3·157 + 10
  ELSE
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('unsupported curve %s', p_crv);
  END CASE;
END
$$;

-- Whether (x, y) is a point of the curve in canonical form (SEC 1 §3.2.2.1 steps 2–3):
-- 0 ≤ x, y < p and y² ≡ x³ − 3x + b. With cofactor 1 every such point is in the subgroup of order n.
CREATE OR REPLACE FUNCTION auth._ec_on_curve(p_p numeric, p_b numeric, p_x numeric, p_y numeric)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT p_x >= 0 AND p_x < p_p AND p_y >= 0 AND p_y < p_p
     AND mod(p_y * p_y - (p_x * p_x * p_x - 3 * p_x + p_b), p_p) = 0
$$;

-- 2·(X, Y, Z) in Jacobian coordinates with a = −3: EFD "dbl-2001-b", 3M + 5S
-- (https://hyperelliptic.org/EFD/g1p/auto-shortw-jacobian-3.html#doubling-dbl-2001-b).
-- Inputs loosely reduced (|·| < 2p); outputs too. p_m is the Barrett reciprocal of p.
CREATE OR REPLACE FUNCTION auth._ec_double(p_p numeric, p_m numeric, p_x numeric, p_y numeric, p_z numeric)
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_t     numeric;
  v_delta numeric;
  v_gamma numeric;
  v_beta  numeric;
  v_alpha numeric;
  v_x3    numeric;
  v_y3    numeric;
  v_z3    numeric;
BEGIN
  v_t := p_z * p_z;                              v_delta := v_t - trunc(v_t * p_m) * p_p;  -- delta = Z1²
  v_t := p_y * p_y;                              v_gamma := v_t - trunc(v_t * p_m) * p_p;  -- gamma = Y1²
  v_t := p_x * v_gamma;                          v_beta  := v_t - trunc(v_t * p_m) * p_p;  -- beta = X1·gamma
  v_t := 3 * (p_x - v_delta) * (p_x + v_delta);  v_alpha := v_t - trunc(v_t * p_m) * p_p;  -- alpha = 3(X1−delta)(X1+delta)
  v_t := v_alpha * v_alpha - 8 * v_beta;         v_x3    := v_t - trunc(v_t * p_m) * p_p;  -- X3 = alpha² − 8·beta
  v_t := (p_y + p_z) * (p_y + p_z) - v_gamma - v_delta;
                                                 v_z3    := v_t - trunc(v_t * p_m) * p_p;  -- Z3 = (Y1+Z1)² − gamma − delta
  v_t := v_gamma * v_gamma;                      v_t     := v_t - trunc(v_t * p_m) * p_p;  -- gamma²
  v_t := v_alpha * (4 * v_beta - v_x3) - 8 * v_t;
                                                 v_y3    := v_t - trunc(v_t * p_m) * p_p;  -- Y3 = alpha(4·beta − X3) − 8·gamma²
  RETURN ARRAY[v_x3, v_y3, v_z3];
END
$$;

-- (X1, Y1, Z1) + (x2, y2), a Jacobian plus an affine point: EFD "madd-2004-hmv", 8M + 3S
-- (https://hyperelliptic.org/EFD/g1p/auto-shortw-jacobian-3.html#addition-madd-2004-hmv).
-- Not complete: when the two points are equal or opposite (H ≡ 0) the result has Z3 ≡ 0 and is
-- wrong for equal points; auth._ec_sum detects that and takes its careful path.
CREATE OR REPLACE FUNCTION auth._ec_madd(p_p numeric, p_m numeric, p_x1 numeric, p_y1 numeric, p_z1 numeric, p_x2 numeric, p_y2 numeric)
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_t   numeric;
  v_zz  numeric;
  v_zzz numeric;
  v_h   numeric;
  v_r   numeric;
  v_hh  numeric;
  v_hhh numeric;
  v_v   numeric;
  v_x3  numeric;
  v_y3  numeric;
  v_z3  numeric;
BEGIN
  v_t := p_z1 * p_z1;        v_zz  := v_t - trunc(v_t * p_m) * p_p;  -- Z1²
  v_t := v_zz * p_z1;        v_zzz := v_t - trunc(v_t * p_m) * p_p;  -- Z1³
  v_t := p_x2 * v_zz - p_x1; v_h   := v_t - trunc(v_t * p_m) * p_p;  -- H = x2·Z1² − X1
  v_t := p_y2 * v_zzz - p_y1; v_r  := v_t - trunc(v_t * p_m) * p_p;  -- R = y2·Z1³ − Y1
  v_t := v_h * v_h;          v_hh  := v_t - trunc(v_t * p_m) * p_p;  -- H²
  v_t := v_hh * v_h;         v_hhh := v_t - trunc(v_t * p_m) * p_p;  -- H³
  v_t := p_x1 * v_hh;        v_v   := v_t - trunc(v_t * p_m) * p_p;  -- V = X1·H²
  v_t := v_r * v_r - v_hhh - 2 * v_v;
                             v_x3  := v_t - trunc(v_t * p_m) * p_p;  -- X3 = R² − H³ − 2V
  v_t := v_r * (v_v - v_x3) - p_y1 * v_hhh;
                             v_y3  := v_t - trunc(v_t * p_m) * p_p;  -- Y3 = R(V − X3) − Y1·H³
  v_t := p_z1 * v_h;         v_z3  := v_t - trunc(v_t * p_m) * p_p;  -- Z3 = Z1·H
  RETURN ARRAY[v_x3, v_y3, v_z3];
END
$$;

-- The sum of a list of affine points (x_i, y_i), in Jacobian coordinates {X, Y, Z}; {1, 1, 0} is O.
-- This is the whole of a fixed-base scalar multiplication once the table entries are chosen: one
-- mixed addition per point, no doublings. The addition is madd-2004-hmv (8M + 3S, as in
-- auth._ec_madd) with lazier reductions: H³ and V = X1·H² stay unreduced (< 4p²) since they only
-- enter sums, and the two sums with products of three factors (R, Y3) are reduced with m3; 7
-- reductions instead of 10. Bounds, all |·|: inputs < 2p, table points < p; Z1², x2·Z1² − X1 < 3p²;
-- y2·Z1³ − Y1 < 5p³; X3's sum < 16p²; Y3's sum < 18p³.
-- The fast loop is not complete, but a failure shows: Z is the product of the H's, so Z ≡ 0 at the
-- end exactly when some addition met equal or opposite points (or the sum is O); then the list is
-- summed again with every case handled (equal points double, opposite points give O).
CREATE OR REPLACE FUNCTION auth._ec_sum(p_p numeric, p_m numeric, p_m3 numeric, p_xs numeric[], p_ys numeric[])
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_count int := coalesce(array_length(p_xs, 1), 0);
  v_x   numeric;
  v_y   numeric;
  v_z   numeric;
  v_x2  numeric;
  v_y2  numeric;
  v_t   numeric;
  v_zz  numeric;
  v_h   numeric;
  v_r   numeric;
  v_hh  numeric;
  v_hhh numeric;
  v_v   numeric;
  v_pt  numeric[];
BEGIN
  IF v_count = 0 THEN
    RETURN ARRAY[1, 1, 0]::numeric[];
  END IF;
  v_x := p_xs[1];  v_y := p_ys[1];  v_z := 1;
  FOR i IN 2..v_count LOOP
    v_x2 := p_xs[i];  v_y2 := p_ys[i];
    v_t := v_z * v_z;                v_zz := v_t - trunc(v_t * p_m) * p_p;    -- Z1²
    v_t := v_x2 * v_zz - v_x;        v_h  := v_t - trunc(v_t * p_m) * p_p;    -- H = x2·Z1² − X1
    v_t := v_y2 * v_zz * v_z - v_y;  v_r  := v_t - trunc(v_t * p_m3) * p_p;   -- R = y2·Z1³ − Y1
    v_t := v_h * v_h;                v_hh := v_t - trunc(v_t * p_m) * p_p;    -- H²
    v_hhh := v_hh * v_h;                                                      -- H³, unreduced
    v_v := v_x * v_hh;                                                        -- V = X1·H², unreduced
    v_t := v_r * v_r - v_hhh - 2 * v_v;
                                     v_x  := v_t - trunc(v_t * p_m) * p_p;    -- X3 = R² − H³ − 2V
    v_t := v_r * (v_v - v_x) - v_y * v_hhh;
                                     v_y  := v_t - trunc(v_t * p_m3) * p_p;   -- Y3 = R(V − X3) − Y1·H³
    v_t := v_z * v_h;                v_z  := v_t - trunc(v_t * p_m) * p_p;    -- Z3 = Z1·H
  END LOOP;
  IF mod(v_z, p_p) <> 0 THEN
    RETURN ARRAY[v_x, v_y, v_z];
  END IF;

  -- The careful path: O is tracked, and H ≡ 0 resolved by doubling (R ≡ 0) or cancelling to O.
  v_x := 1;  v_y := 1;  v_z := 0;
  FOR i IN 1..v_count LOOP
    IF mod(v_z, p_p) = 0 THEN
      v_x := p_xs[i];  v_y := p_ys[i];  v_z := 1;
      CONTINUE;
    END IF;
    v_zz := mod(v_z * v_z, p_p);
    v_h := mod(p_xs[i] * v_zz - v_x, p_p);
    v_r := mod(p_ys[i] * v_zz * v_z - v_y, p_p);
    IF v_h <> 0 THEN
      v_pt := auth._ec_madd(p_p, p_m, v_x, v_y, v_z, p_xs[i], p_ys[i]);
    ELSIF v_r = 0 THEN
      v_pt := auth._ec_double(p_p, p_m, v_x, v_y, v_z);
    ELSE
      v_pt := ARRAY[1, 1, 0]::numeric[];
    END IF;
    v_x := v_pt[1];  v_y := v_pt[2];  v_z := v_pt[3];
  END LOOP;
  RETURN ARRAY[v_x, v_y, v_z];
END
$$;

-- Signed-window (Booth) recoding of a scalar 0 ≤ k < 2^(w·npos − 1) into npos digits
-- d_i ∈ [−2^(w−1), 2^(w−1)] with k = Σ d_i·2^(w·i), where
--     d_i = −2^(w−1)·b_{wi+w−1} + Σ_{j<w−1} b_{wi+j}·2^j + b_{wi−1}     (b_{−1} = 0):
-- each digit comes from its own w+1 bits, with no carry chain (the sum telescopes). Signed digits
-- halve the tables, since −P is (x, −y).
-- Returned as the table entries to add, in position order, as a 2×k array: row 1 the entries
-- idx = i·2^(w−1) + |d_i| (see auth._ec_table), row 2 a 1 where d_i < 0; zero digits add nothing
-- and are left out. (One plain array: a composite result would cost more to hand back.)
CREATE OR REPLACE FUNCTION auth._ec_booth(p_k numeric, p_w int, p_npos int)
RETURNS int[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  -- the w·npos bits of k, most significant first, then b_{−1} = 0 and padding for the last read
  v_bits    varbit := ('x' || encode(auth._numeric_to_bytes(p_k, (p_w * p_npos + 7) / 8), 'hex'))::varbit;
  v_half    int := 1 << (p_w - 1);
  v_win     int;
  v_digit   int;
  v_idx     int[] := '{}';
  v_neg     int[] := '{}';
BEGIN
  v_bits := substring(v_bits from length(v_bits) - p_w * p_npos + 1) || B'0' || B'0000000000000000000000000000000';
  FOR i IN 0..p_npos - 1 LOOP
    -- bits b_{wi+w−1} … b_{wi−1}: the top w+1 of the 32 read from the window's first bit
    v_win := (substring(v_bits from p_w * (p_npos - i - 1) + 1 for 32)::bit(32)::bigint >> (31 - p_w))::int;
    v_digit := (v_win >> 1) + (v_win & 1) - ((v_win >> p_w) << p_w);
    IF v_digit > 0 THEN
      v_idx := v_idx || (i * v_half + v_digit);
      v_neg := v_neg || 0;
    ELSIF v_digit < 0 THEN
      v_idx := v_idx || (i * v_half - v_digit);
      v_neg := v_neg || 1;
    END IF;
  END LOOP;
  RETURN ARRAY[v_idx, v_neg];
END
$$;

-- The fixed-base table of the affine point P = (p_x, p_y), with windows of p_w bits at p_npos
-- positions: the affine points j·2^(w·i)·P for i in [0, npos) and j in [1, 2^(w−1)], at
-- idx = i·2^(w−1) + j, coordinates canonical. Per position: 2P by doubling, jP by mixed
-- additions, 2^w·P (the next position's base) by doubling, then all made affine with one inversion
-- (simultaneous inversion, "Montgomery's trick": 3M per element).
-- No exceptional case: jB = ±B only for j = ±1 mod n, and 1 < j ≤ 2^(w−1) < n.
CREATE OR REPLACE FUNCTION auth._ec_table(p_crv text, p_x numeric, p_y numeric, p_w int, p_npos int)
RETURNS TABLE (idx int, x numeric, y numeric)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_c    record := auth._ec_curve(p_crv);
  v_p    numeric := v_c.p;
  v_m    numeric := v_c.m;
  v_half int := 1 << (p_w - 1);
  v_bx   numeric := p_x;   -- the position's base 2^(w·i)·P, affine
  v_by   numeric := p_y;
  v_jx   numeric[];        -- Jacobian 2B … half·B, then 2^w·B
  v_jy   numeric[];
  v_jz   numeric[];
  v_pre  numeric[];        -- prefix products of the Z's
  v_pt   numeric[];
  v_inv  numeric;
  v_zi   numeric;
  v_zi2  numeric;
  v_zi3  numeric;
  v_t    numeric;
  v_ax   numeric[];
  v_ay   numeric[];
BEGIN
  FOR i IN 0..p_npos - 1 LOOP
    v_pt := auth._ec_double(v_p, v_m, v_bx, v_by, 1);
    v_jx := ARRAY[v_pt[1]];  v_jy := ARRAY[v_pt[2]];  v_jz := ARRAY[v_pt[3]];
    FOR j IN 3..v_half LOOP
      v_pt := auth._ec_madd(v_p, v_m, v_pt[1], v_pt[2], v_pt[3], v_bx, v_by);
      v_jx := v_jx || v_pt[1];  v_jy := v_jy || v_pt[2];  v_jz := v_jz || v_pt[3];
    END LOOP;
    v_pt := auth._ec_double(v_p, v_m, v_pt[1], v_pt[2], v_pt[3]);
    v_jx := v_jx || v_pt[1];  v_jy := v_jy || v_pt[2];  v_jz := v_jz || v_pt[3];

    -- Montgomery's trick: one inversion for the v_half Z's of this position.
    v_pre := ARRAY[v_jz[1]];
    FOR k IN 2..v_half LOOP
      v_t := v_pre[k - 1] * v_jz[k];
      v_pre := v_pre || (v_t - trunc(v_t * v_m) * v_p);
    END LOOP;
    v_inv := auth._mod_inverse(v_pre[v_half], v_p);
    v_ax := array_fill(NULL::numeric, ARRAY[v_half]);
    v_ay := array_fill(NULL::numeric, ARRAY[v_half]);
    FOR k IN REVERSE v_half..1 LOOP
      IF k > 1 THEN
        v_t := v_inv * v_pre[k - 1];  v_zi := v_t - trunc(v_t * v_m) * v_p;   -- 1/Z_k
        v_t := v_inv * v_jz[k];       v_inv := v_t - trunc(v_t * v_m) * v_p;  -- 1/(Z_1⋯Z_(k−1))
      ELSE
        v_zi := v_inv;
      END IF;
      v_t := v_zi * v_zi;             v_zi2 := v_t - trunc(v_t * v_m) * v_p;
      v_t := v_zi2 * v_zi;            v_zi3 := v_t - trunc(v_t * v_m) * v_p;
      v_t := mod(v_jx[k] * v_zi2, v_p);
      v_ax[k] := CASE WHEN v_t < 0 THEN v_t + v_p ELSE v_t END;
      v_t := mod(v_jy[k] * v_zi3, v_p);
      v_ay[k] := CASE WHEN v_t < 0 THEN v_t + v_p ELSE v_t END;
    END LOOP;

    idx := i * v_half + 1;  x := v_bx;  y := v_by;
    RETURN NEXT;
    FOR j IN 2..v_half LOOP
      idx := i * v_half + j;  x := v_ax[j - 1];  y := v_ay[j - 1];
      RETURN NEXT;
    END LOOP;
    v_bx := v_ax[v_half];  v_by := v_ay[v_half];
  END LOOP;
END
$$;
