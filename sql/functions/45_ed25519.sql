-- edwards25519 (RFC 8032 §5.1, RFC 7748 §4.1): field and point arithmetic on Postgres `numeric`.
-- Generic curve math only; EdDSA registration and verification live in 46_eddsa.sql.
--
-- Field elements are `numeric` integers kept *loosely* reduced: any integer v with |v| < 2p
-- stands for v mod p (negative values included, so subtraction needs no "+ p"). A product of
-- two such values, or of sums of a few, stays below 2^548 < 10^165 and is brought back under 2p
-- by the Barrett reduction of 35_field.sql, built only from multiplications (a product plus
-- `mod` costs about 1.7 us, a product plus this reduction 0.84 us, PostgreSQL 15):
--     v - trunc(v * p_inv) * p,   p_inv = auth._barrett_m(p, 165)
-- Values are canonicalised (0 <= v < p) only where they are encoded or compared.
--
-- Points are in extended twisted Edwards coordinates (Hisil, Wong, Carter, Dawson, "Twisted
-- Edwards curves revisited", Asiacrypt 2008, §3): (X : Y : Z : T) with x = X/Z, y = Y/Z,
-- x y = T/Z, stored as numeric[4] {X, Y, Z, T}. For a = -1 and d a non-square (edwards25519)
-- the addition formula add-2008-hwcd-3 is complete: it also doubles and handles the identity.

-- Curve constants (RFC 8032 §5.1), one function each: IMMUTABLE without arguments, so the
-- planner folds each call into a constant once per plan.
-- p = 2^255 - 19
CREATE OR REPLACE FUNCTION auth._ed25519_p() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 57896044618658097711785492504343953926634992332820282019728792003956564819949::numeric $$;
-- L = 2^252 + 27742317777372353535851937790883648493 (order of the prime subgroup; cofactor 8)
CREATE OR REPLACE FUNCTION auth._ed25519_l() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 7237005577332262213973186563042994240857116359379907606001950938285454250989::numeric $$;
-- d = -121665 / 121666 mod p
CREATE OR REPLACE FUNCTION auth._ed25519_d() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 37095705934669439343138083508754565189542113879843219016388785533085940283555::numeric $$;
-- d2 = 2 d mod p (the "k" of add-2008-hwcd-3)
CREATE OR REPLACE FUNCTION auth._ed25519_d2() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 16295367250680780974490674513165176452449235426866156013048779062215315747161::numeric $$;
-- Bx: the x of B, the even root of x^2 = (By^2 - 1) / (d By^2 + 1)
CREATE OR REPLACE FUNCTION auth._ed25519_bx() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 15112221349535400772501151409588531511454012693041857206046113283949847762202::numeric $$;
-- By = 4/5 mod p
CREATE OR REPLACE FUNCTION auth._ed25519_by() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 46316835694926478169428394003475163141307993866256225615783033603165251855960::numeric $$;
-- sqrt(-1) = 2^((p-1)/4) mod p
CREATE OR REPLACE FUNCTION auth._ed25519_sqrt_m1() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 19681161376707505956807079304988542015446066515923890162744021073123829784752::numeric $$;
-- p_inv = floor(10^165 / p) / 10^165, Barrett's reciprocal of p (35_field.sql), folded into a
-- constant at plan time
CREATE OR REPLACE FUNCTION auth._ed25519_p_inv() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT auth._barrett_m(auth._ed25519_p(), 165) $$;
-- c = sum_{i<32} 128 * 256^i = 0x8080...80: s + c, read in bytes minus 128, gives the signed
-- radix-256 digits of s, -128 <= d_i <= 127 (each octet absorbs the borrow of the one below)
CREATE OR REPLACE FUNCTION auth._ed25519_c() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 58123087930888129467517984631811969432229639361576439988433610796128943505536::numeric $$;

-- Field multiplication a * b, loosely reduced (see the header). For registration-time code;
-- the verification loop writes the same two steps inline.
CREATE OR REPLACE FUNCTION auth._ed25519_fe_mul(p_a numeric, p_b numeric)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v numeric := p_a * p_b;
BEGIN
  RETURN v - trunc(v * auth._ed25519_p_inv()) * auth._ed25519_p();
END
$$;

-- The canonical representative 0 <= v < p.
CREATE OR REPLACE FUNCTION auth._ed25519_fe_canon(p_v numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT CASE WHEN m < 0 THEN m + auth._ed25519_p() ELSE m END
    FROM (SELECT mod(p_v, auth._ed25519_p()) AS m) AS r
$$;

-- z^(p-2) = 1/z (Fermat), or with p_pow22523 z^((p-5)/8) = z^(2^252 - 3) (the exponent of the
-- square root in RFC 8032 §5.1.3). Addition chain of ref10 (SUPERCOP, fe_invert/fe_pow22523):
-- z^(2^250 - 1) in 249 squarings and 9 multiplications, then 5 squarings and a multiplication
-- by z^11 (inverse: 254S + 11M) or 2 squarings and a multiplication by z (252S + 11M).
-- Inversion uses auth._mod_inverse (35_field.sql, faster); the tests cross-check the two.
CREATE OR REPLACE FUNCTION auth._ed25519_fe_pow(p_z numeric, p_pow22523 boolean DEFAULT false)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  c_p    CONSTANT numeric := auth._ed25519_p();
  c_inv  CONSTANT numeric := auth._ed25519_p_inv();
  v_z2   numeric;   -- z^2
  v_z9   numeric;   -- z^9
  v_z11  numeric;   -- z^11
  v_5    numeric;   -- z^(2^5 - 1)
  v_10   numeric;   -- z^(2^10 - 1)
  v_20   numeric;   -- z^(2^20 - 1)
  v_50   numeric;   -- z^(2^50 - 1)
  v_100  numeric;   -- z^(2^100 - 1)
  v_t    numeric;
BEGIN
  v_z2 := p_z * p_z;                 v_z2 := v_z2 - trunc(v_z2 * c_inv) * c_p;
  v_t := v_z2 * v_z2;                v_t := v_t - trunc(v_t * c_inv) * c_p;      -- z^4
  v_t := v_t * v_t;                  v_t := v_t - trunc(v_t * c_inv) * c_p;      -- z^8
  v_z9 := v_t * p_z;                 v_z9 := v_z9 - trunc(v_z9 * c_inv) * c_p;
  v_z11 := v_z9 * v_z2;              v_z11 := v_z11 - trunc(v_z11 * c_inv) * c_p;
  v_t := v_z11 * v_z11;              v_t := v_t - trunc(v_t * c_inv) * c_p;      -- z^22
  v_5 := v_t * v_z9;                 v_5 := v_5 - trunc(v_5 * c_inv) * c_p;      -- z^31
  v_t := v_5;
  FOR i IN 1..5 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
  v_10 := v_t * v_5;                 v_10 := v_10 - trunc(v_10 * c_inv) * c_p;
  v_t := v_10;
  FOR i IN 1..10 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
  v_20 := v_t * v_10;                v_20 := v_20 - trunc(v_20 * c_inv) * c_p;
  v_t := v_20;
  FOR i IN 1..20 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
  v_t := v_t * v_20;                 v_t := v_t - trunc(v_t * c_inv) * c_p;      -- z^(2^40 - 1)
  FOR i IN 1..10 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
  v_50 := v_t * v_10;                v_50 := v_50 - trunc(v_50 * c_inv) * c_p;
  v_t := v_50;
  FOR i IN 1..50 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
  v_100 := v_t * v_50;               v_100 := v_100 - trunc(v_100 * c_inv) * c_p;
  v_t := v_100;
  FOR i IN 1..100 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
  v_t := v_t * v_100;                v_t := v_t - trunc(v_t * c_inv) * c_p;      -- z^(2^200 - 1)
  FOR i IN 1..50 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
  v_t := v_t * v_50;                 v_t := v_t - trunc(v_t * c_inv) * c_p;      -- z^(2^250 - 1)
  IF p_pow22523 THEN
    FOR i IN 1..2 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
    v_t := v_t * p_z;                                                            -- z^(2^252 - 3)
  ELSE
    FOR i IN 1..5 LOOP v_t := v_t * v_t; v_t := v_t - trunc(v_t * c_inv) * c_p; END LOOP;
    v_t := v_t * v_z11;                                                          -- z^(2^255 - 21)
  END IF;
  RETURN v_t - trunc(v_t * c_inv) * c_p;
END
$$;

-- A little-endian octet string (RFC 8032 §5.1.2 encodings) as a non-negative integer: the hex
-- digits are reversed pairwise, then read in 56-bit limbs as in auth._bytes_to_numeric.
CREATE OR REPLACE FUNCTION auth._ed25519_le_to_numeric(p_bytes bytea)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_hex    text := regexp_replace(reverse(encode(p_bytes, 'hex')), '(.)(.)', '\2\1', 'g');
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

-- 0 <= v < 2^256 as 64 hex digits, most significant first (four 56-bit limbs and a 32-bit one).
CREATE OR REPLACE FUNCTION auth._ed25519_hex64(p_v numeric)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_q   numeric := p_v;
  v_r   numeric;
  v_hex text := '';
BEGIN
  FOR i IN 1..4 LOOP
    v_r := v_q;
    v_q := div(v_q, 72057594037927936);                          -- 2^56
    v_hex := lpad(to_hex((v_r - v_q * 72057594037927936)::bigint), 14, '0') || v_hex;
  END LOOP;
  RETURN lpad(to_hex(v_q::bigint), 8, '0') || v_hex;
END
$$;

-- Point addition, add-2008-hwcd-3 (EFD, "extended-1" coordinates, a = -1), 8M + 1*k:
--   A = (Y1-X1)(Y2-X2), B = (Y1+X1)(Y2+X2), C = T1 k T2 (k = 2d), D = 2 Z1 Z2,
--   E = B-A, F = D-C, G = D+C, H = B+A, X3 = E F, Y3 = G H, T3 = E H, Z3 = F G.
-- Complete on edwards25519 (HWCD 2008 §3.1): valid for P = Q and for the identity (0:1:1:0).
CREATE OR REPLACE FUNCTION auth._ed25519_add(p_p numeric[], p_q numeric[])
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_a numeric := auth._ed25519_fe_mul(p_p[2] - p_p[1], p_q[2] - p_q[1]);
  v_b numeric := auth._ed25519_fe_mul(p_p[2] + p_p[1], p_q[2] + p_q[1]);
  v_c numeric := auth._ed25519_fe_mul(auth._ed25519_fe_mul(p_p[4], auth._ed25519_d2()), p_q[4]);
  v_d numeric := auth._ed25519_fe_mul(2 * p_p[3], p_q[3]);
BEGIN
  RETURN ARRAY[auth._ed25519_fe_mul(v_b - v_a, v_d - v_c), auth._ed25519_fe_mul(v_d + v_c, v_b + v_a),
               auth._ed25519_fe_mul(v_d - v_c, v_d + v_c), auth._ed25519_fe_mul(v_b - v_a, v_b + v_a)];
END
$$;

-- Point doubling, dbl-2008-hwcd (EFD, a = -1), 4M + 4S:
--   A = X1^2, B = Y1^2, C = 2 Z1^2, D = -A, E = (X1+Y1)^2 - A - B, G = D+B, F = G-C, H = D-B,
--   X3 = E F, Y3 = G H, T3 = E H, Z3 = F G.
CREATE OR REPLACE FUNCTION auth._ed25519_double(p_p numeric[])
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_a numeric := auth._ed25519_fe_mul(p_p[1], p_p[1]);
  v_b numeric := auth._ed25519_fe_mul(p_p[2], p_p[2]);
  v_c numeric := 2 * auth._ed25519_fe_mul(p_p[3], p_p[3]);
  v_e numeric := auth._ed25519_fe_mul(p_p[1] + p_p[2], p_p[1] + p_p[2]) - v_a - v_b;
  v_g numeric := v_b - v_a;
  v_f numeric := v_g - v_c;
  v_h numeric := -v_a - v_b;
BEGIN
  RETURN ARRAY[auth._ed25519_fe_mul(v_e, v_f), auth._ed25519_fe_mul(v_g, v_h),
               auth._ed25519_fe_mul(v_f, v_g), auth._ed25519_fe_mul(v_e, v_h)];
END
$$;

-- [n]P by double-and-add from the top bit (n >= 0). Registration-time only (subgroup checks).
CREATE OR REPLACE FUNCTION auth._ed25519_scalar_mult(p_n numeric, p_p numeric[])
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_bits text := '';
  v_n    numeric := p_n;
  v_r    numeric[] := ARRAY[0, 1, 1, 0]::numeric[];   -- the identity (0 : 1 : 1 : 0)
BEGIN
  WHILE v_n > 0 LOOP
    v_bits := mod(v_n, 2)::text || v_bits;
    v_n := div(v_n, 2);
  END LOOP;
  FOR i IN 1..length(v_bits) LOOP
    v_r := auth._ed25519_double(v_r);
    IF substr(v_bits, i, 1) = '1' THEN
      v_r := auth._ed25519_add(v_r, p_p);
    END IF;
  END LOOP;
  RETURN v_r;
END
$$;

-- Whether an extended point is the identity (X = 0, Y = Z), projectively.
CREATE OR REPLACE FUNCTION auth._ed25519_is_identity(p_p numeric[])
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT mod(p_p[1], auth._ed25519_p()) = 0 AND mod(p_p[2] - p_p[3], auth._ed25519_p()) = 0
$$;

-- DECODE (RFC 8032 §5.1.3). Returns x and y canonical, or a reason why the 32 octets are not a
-- point encoding:
--   1. y is the low 255 bits (little-endian), x_0 the top bit; y >= p is rejected (non-canonical).
--   2. x^2 = u/v with u = y^2 - 1, v = d y^2 + 1; candidate x = u v^3 (u v^7)^((p-5)/8).
--   3. v x^2 = u: x is a root; v x^2 = -u: x * sqrt(-1) is; otherwise no point has this y.
--   4. x = 0 with x_0 = 1 is rejected; if x mod 2 != x_0, x = p - x.
CREATE OR REPLACE FUNCTION auth._ed25519_decode(p_bytes bytea, OUT x numeric, OUT y numeric, OUT problem text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
  c_p   CONSTANT numeric := auth._ed25519_p();
  v_x0  int;
  v_u   numeric;
  v_v   numeric;
  v_y2  numeric;
  v_vx2 numeric;
BEGIN
  IF p_bytes IS NULL OR length(p_bytes) <> 32 THEN
    problem := 'a point encoding is 32 octets';
    RETURN;
  END IF;
  v_x0 := get_byte(p_bytes, 31) >> 7;
  y := auth._ed25519_le_to_numeric(set_byte(p_bytes, 31, get_byte(p_bytes, 31) & 127));
  IF y >= c_p THEN
    y := NULL;
    problem := 'non-canonical encoding: y >= p';
    RETURN;
  END IF;
  v_y2 := auth._ed25519_fe_mul(y, y);
  v_u := v_y2 - 1;
  v_v := auth._ed25519_fe_mul(auth._ed25519_d(), v_y2) + 1;
  -- x = u v^3 (u v^7)^((p-5)/8)
  x := auth._ed25519_fe_mul(auth._ed25519_fe_mul(v_v, v_v), v_v);                      -- v^3
  x := auth._ed25519_fe_mul(auth._ed25519_fe_mul(v_u, x),
         auth._ed25519_fe_pow(auth._ed25519_fe_mul(v_u, auth._ed25519_fe_mul(auth._ed25519_fe_mul(x, x), v_v)), true));
  v_vx2 := auth._ed25519_fe_canon(auth._ed25519_fe_mul(v_v, auth._ed25519_fe_mul(x, x)));
  IF v_vx2 = auth._ed25519_fe_canon(v_u) THEN
    x := auth._ed25519_fe_canon(x);
  ELSIF v_vx2 = auth._ed25519_fe_canon(-v_u) THEN
    x := auth._ed25519_fe_canon(auth._ed25519_fe_mul(x, auth._ed25519_sqrt_m1()));
  ELSE
    x := NULL;
    y := NULL;
    problem := 'not a point of edwards25519: y^2 - 1 / (d y^2 + 1) has no square root';
    RETURN;
  END IF;
  IF x = 0 AND v_x0 = 1 THEN
    x := NULL;
    y := NULL;
    problem := 'non-canonical encoding: x = 0 with the sign bit set';
    RETURN;
  END IF;
  IF mod(x, 2) <> v_x0 THEN
    x := c_p - x;
  END IF;
END
$$;

-- The fixed-base table of an affine point P (see migration 0004): for window i in 0..31 and
-- j in 1..128, j * 256^i * P as (y + x, y - x, 2 d x y) mod p at pos = 128 i + j - 1.
-- Per window: 127 additions of Q = 256^i P (add-2008-hwcd-3, 8M + 1*k, written inline with the
-- Barrett steps of the header), then 256^(i+1) P = [2](128 Q) (dbl-2008-hwcd). All 4096 Z are
-- then inverted at once with Montgomery's trick (3M each and one inversion).
CREATE OR REPLACE FUNCTION auth._ed25519_multiples(p_x numeric, p_y numeric)
RETURNS TABLE (pos int, ypx numeric, ymx numeric, t2d numeric)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  c_p    CONSTANT numeric := auth._ed25519_p();
  c_inv  CONSTANT numeric := auth._ed25519_p_inv();
  c_d2   CONSTANT numeric := auth._ed25519_d2();
  v_base numeric[] := ARRAY[p_x, p_y, 1, auth._ed25519_fe_mul(p_x, p_y)];   -- Q = 256^i P
  v_qymx numeric;   -- Y2 - X2, Y2 + X2, k T2, 2 Z2 of Q
  v_qypx numeric;
  v_qt   numeric;
  v_qz   numeric;
  v_x    numeric;   -- the running multiple j Q
  v_y    numeric;
  v_z    numeric;
  v_t    numeric;
  v_a    numeric;
  v_b    numeric;
  v_c    numeric;
  v_d    numeric;
  v_xs   numeric[] := '{}';
  v_ys   numeric[] := '{}';
  v_zs   numeric[] := '{}';
  v_pre  numeric[] := '{}';   -- v_pre[n] = Z_1 ... Z_n
  v_zi   numeric;
  n      int;
BEGIN
  FOR i IN 0..31 LOOP
    v_x := v_base[1];  v_y := v_base[2];  v_z := v_base[3];  v_t := v_base[4];
    v_qymx := v_y - v_x;
    v_qypx := v_y + v_x;
    v_qt := v_t * c_d2;  v_qt := v_qt - trunc(v_qt * c_inv) * c_p;
    v_qz := v_z + v_z;
    FOR j IN 1..128 LOOP
      n := 128 * i + j;
      v_xs[n] := v_x;
      v_ys[n] := v_y;
      v_zs[n] := v_z;
      IF n = 1 THEN
        v_pre[n] := v_z;
      ELSE
        v_a := v_pre[n - 1] * v_z;  v_pre[n] := v_a - trunc(v_a * c_inv) * c_p;
      END IF;
      EXIT WHEN j = 128;
      -- (j+1) Q = j Q + Q, add-2008-hwcd-3
      v_a := (v_y - v_x) * v_qymx;  v_a := v_a - trunc(v_a * c_inv) * c_p;
      v_b := (v_y + v_x) * v_qypx;  v_b := v_b - trunc(v_b * c_inv) * c_p;
      v_c := v_t * v_qt;            v_c := v_c - trunc(v_c * c_inv) * c_p;
      v_d := v_z * v_qz;            v_d := v_d - trunc(v_d * c_inv) * c_p;
      v_x := (v_b - v_a) * (v_d - v_c);  v_x := v_x - trunc(v_x * c_inv) * c_p;
      v_y := (v_d + v_c) * (v_b + v_a);  v_y := v_y - trunc(v_y * c_inv) * c_p;
      v_t := (v_b - v_a) * (v_b + v_a);  v_t := v_t - trunc(v_t * c_inv) * c_p;
      v_z := (v_d - v_c) * (v_d + v_c);  v_z := v_z - trunc(v_z * c_inv) * c_p;
    END LOOP;
    v_base := auth._ed25519_double(ARRAY[v_x, v_y, v_z, v_t]);       -- 256 Q = 256^(i+1) P
  END LOOP;
  v_c := auth._mod_inverse(v_pre[4096], c_p);                        -- 1 / (Z_1 ... Z_4096)
  FOR n IN REVERSE 4096..1 LOOP
    IF n = 1 THEN
      v_zi := v_c;
    ELSE
      v_zi := v_c * v_pre[n - 1];  v_zi := v_zi - trunc(v_zi * c_inv) * c_p;      -- 1 / Z_n
      v_c := v_c * v_zs[n];        v_c := v_c - trunc(v_c * c_inv) * c_p;         -- 1 / (Z_1 ... Z_n-1)
    END IF;
    v_x := v_xs[n] * v_zi;  v_x := v_x - trunc(v_x * c_inv) * c_p;
    v_y := v_ys[n] * v_zi;  v_y := v_y - trunc(v_y * c_inv) * c_p;
    v_t := v_x * v_y;       v_t := v_t - trunc(v_t * c_inv) * c_p;
    v_t := v_t * c_d2;
    pos := n - 1;
    ypx := mod(v_y + v_x, c_p);  IF ypx < 0 THEN ypx := ypx + c_p; END IF;
    ymx := mod(v_y - v_x, c_p);  IF ymx < 0 THEN ymx := ymx + c_p; END IF;
    t2d := mod(v_t, c_p);        IF t2d < 0 THEN t2d := t2d + c_p; END IF;
    RETURN NEXT;
  END LOOP;
END
$$;

-- Fills auth.ed25519_base_multiples (the multiples of B) when it is empty. Called by key
-- registration, so a fresh install, or a re-applied migration 0004, gets the table before any
-- Ed25519 key can verify; it is a pure function of the curve constants.
CREATE OR REPLACE FUNCTION auth._ed25519_ensure_base_table()
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  IF (SELECT count(*) FROM auth.ed25519_base_multiples) = 4096 THEN
    RETURN;
  END IF;
  LOCK TABLE auth.ed25519_base_multiples IN SHARE ROW EXCLUSIVE MODE;   -- one builder at a time
  IF (SELECT count(*) FROM auth.ed25519_base_multiples) = 4096 THEN
    RETURN;
  END IF;
  DELETE FROM auth.ed25519_base_multiples;
  INSERT INTO auth.ed25519_base_multiples (pos, ypx, ymx, t2d)
  SELECT m.pos, m.ypx, m.ymx, m.t2d FROM auth._ed25519_multiples(auth._ed25519_bx(), auth._ed25519_by()) AS m;
END
$$;
