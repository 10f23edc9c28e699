-- Up Migration
-- RSA public keys (RS256/384/512, PS256/384/512), precomputed at registration so that a
-- verification is one modular exponentiation and an integer comparison (see sql/functions/30_rsa.sql).
CREATE TABLE auth.rsa_keys (
    key_id       bigint PRIMARY KEY REFERENCES auth.keys (id) ON DELETE CASCADE
  , alg          text NOT NULL REFERENCES auth.algorithms (alg)  -- the key's one algorithm
  , n            numeric NOT NULL   -- modulus (RFC 8017 §3.1)
  , e            numeric NOT NULL   -- public exponent
  , e_bits       varbit NOT NULL    -- e in binary, most significant (1) bit first
  , k            int NOT NULL       -- length of n in octets (RFC 8017 §2)
  , mod_bits     int NOT NULL CHECK (mod_bits BETWEEN 2048 AND 8192)
  , n_digits     int NOT NULL       -- d, the number of decimal digits of n
  , barrett_mu   numeric NOT NULL   -- floor(10^(2d+1) / n), the Barrett constant (10_bignum.sql)
  , pkcs1_prefix numeric            -- RS*: OS2IP(0x00 01 FF..FF 00 || DigestInfo || hLen zero octets)
  , CHECK ((pkcs1_prefix IS NOT NULL) = (alg IN ('RS256', 'RS384', 'RS512')))
  , CHECK (alg IN ('RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'))
);
REVOKE ALL ON auth.rsa_keys FROM PUBLIC;

-- Down Migration
DROP TABLE auth.rsa_keys;
