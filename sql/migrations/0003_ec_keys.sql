-- Up Migration
-- authdb: key material for ECDSA (ES256, ES384, ES512; RFC 7518 §3.4).
-- Verification computes u1·G + u2·Q (SEC 1 §4.1.4 step 5) with two fixed-base tables, so that it
-- needs only mixed point additions and no doublings (auth._ec_sum in sql/functions/40_ec_field.sql):
-- the table of G is built once per curve (at the first registration of a key on that curve), the
-- table of Q when the key is registered.
--
-- A table for point P with window w holds, for every Booth window position i in [0, npos) and every
-- digit j in [1, 2^(w-1)], the affine point j·2^(w·i)·P at idx = i·2^(w-1) + j. Negative
-- digits use the negated point (x, -y). Coordinates are canonical, in [0, p).

-- Registered EC public keys: the validated point (SEC 1 §3.2.2.1), its curve and its table's shape.
CREATE TABLE auth.ec_keys (
    key_id  bigint PRIMARY KEY REFERENCES auth.keys (id) ON DELETE CASCADE
  , crv     text NOT NULL CHECK (crv IN ('P-256', 'P-384', 'P-521'))
  , x       numeric NOT NULL
  , y       numeric NOT NULL
  , w       int NOT NULL CHECK (w BETWEEN 2 AND 12)   -- window width of the key's table
  , npos    int NOT NULL CHECK (npos > 0)             -- number of window positions
);

-- The fixed-base table of each registered key Q.
CREATE TABLE auth.ec_key_points (
    key_id  bigint NOT NULL REFERENCES auth.ec_keys (key_id) ON DELETE CASCADE
  , idx     int NOT NULL
  , x       numeric NOT NULL
  , y       numeric NOT NULL
  , PRIMARY KEY (key_id, idx) INCLUDE (x, y)   -- verification reads the table by index only
);

-- The fixed-base table of each curve's generator G: its shape, then its points.
CREATE TABLE auth.ec_base_tables (
    crv     text PRIMARY KEY CHECK (crv IN ('P-256', 'P-384', 'P-521'))
  , w       int NOT NULL CHECK (w BETWEEN 2 AND 12)
  , npos    int NOT NULL CHECK (npos > 0)
);
CREATE TABLE auth.ec_base_points (
    crv     text NOT NULL REFERENCES auth.ec_base_tables (crv) ON DELETE CASCADE
  , idx     int NOT NULL
  , x       numeric NOT NULL
  , y       numeric NOT NULL
  , PRIMARY KEY (crv, idx) INCLUDE (x, y)
);

REVOKE ALL ON auth.ec_keys, auth.ec_key_points, auth.ec_base_tables, auth.ec_base_points FROM PUBLIC;

-- Down Migration
DROP TABLE auth.ec_base_points;
DROP TABLE auth.ec_base_tables;
DROP TABLE auth.ec_key_points;
DROP TABLE auth.ec_keys;
