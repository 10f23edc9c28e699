-- Up Migration
-- authdb 0.1.0: the auth schema, its roles, and the key store.
-- Functions are not created here: each one's current definition lives in exactly one file under
-- sql/functions/, and the migration runner (re)applies that set after the versioned migrations.

-- Roles are cluster-wide: create them only where they are missing (another database may have them).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
    BEGIN
      CREATE ROLE authenticated NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN NULL;  -- a concurrent migrate of another database won
    END;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anonymous') THEN
    BEGIN
      CREATE ROLE anonymous NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN NULL;
    END;
  END IF;
END
$$;

-- The migrating role may log in as something other than a superuser: it must be able to
-- SET ROLE to the auth roles for tests and withAuth. Membership is granted where possible.
DO $$
BEGIN
  EXECUTE pg_catalog.format('GRANT authenticated, anonymous TO %I', current_user);
EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN NULL;
END
$$;

CREATE SCHEMA auth;
COMMENT ON SCHEMA auth IS 'authdb: JWT verification and sealed identity for row-level security';
REVOKE ALL ON SCHEMA auth FROM PUBLIC;
GRANT USAGE ON SCHEMA auth TO PUBLIC;

-- What is installed. One row; auth.version() reads it.
CREATE TABLE auth.installation (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton)
  , version        text NOT NULL
  , functions_sha256 text NOT NULL DEFAULT ''
  , installed_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
  , updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
INSERT INTO auth.installation (version) VALUES ('0.1.0');

-- The sealing secret (security model §2). Generated here from built-in randomness: 4 × 122 bits of
-- gen_random_uuid() (a CSPRNG, pg_strong_random), hashed to 32 bytes. HMAC's inner and outer
-- padded keys (RFC 2104 §2) are stored precomputed, so sealing needs no XOR at run time.
CREATE TABLE auth.seal_secret (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton)
  , ipad_key   bytea NOT NULL CHECK (pg_catalog.length(ipad_key) = 64)
  , opad_key   bytea NOT NULL CHECK (pg_catalog.length(opad_key) = 64)
  , created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Every JWS algorithm the product knows, described once (RFC 7518 §3.1, RFC 8037 §3.1).
CREATE TABLE auth.algorithms (
    alg        text PRIMARY KEY
  , family     text NOT NULL CHECK (family IN ('hmac', 'rsa_pkcs1', 'rsa_pss', 'ecdsa', 'eddsa'))
  , kty        text NOT NULL CHECK (kty IN ('oct', 'RSA', 'EC', 'OKP'))
  , crv        text
  , hash       text NOT NULL CHECK (hash IN ('sha256', 'sha384', 'sha512'))
  , hash_bytes int  NOT NULL
);
INSERT INTO auth.algorithms (alg, family, kty, crv, hash, hash_bytes) VALUES
    ('HS256', 'hmac',      'oct', NULL,      'sha256', 32)
  , ('HS384', 'hmac',      'oct', NULL,      'sha384', 48)
  , ('HS512', 'hmac',      'oct', NULL,      'sha512', 64)
  , ('RS256', 'rsa_pkcs1', 'RSA', NULL,      'sha256', 32)
  , ('RS384', 'rsa_pkcs1', 'RSA', NULL,      'sha384', 48)
  , ('RS512', 'rsa_pkcs1', 'RSA', NULL,      'sha512', 64)
  , ('PS256', 'rsa_pss',   'RSA', NULL,      'sha256', 32)
  , ('PS384', 'rsa_pss',   'RSA', NULL,      'sha384', 48)
  , ('PS512', 'rsa_pss',   'RSA', NULL,      'sha512', 64)
  , ('ES256', 'ecdsa',     'EC',  'P-256',   'sha256', 32)
  , ('ES384', 'ecdsa',     'EC',  'P-384',   'sha384', 48)
  , ('ES512', 'ecdsa',     'EC',  'P-521',   'sha512', 64)
  , ('EdDSA', 'eddsa',     'OKP', 'Ed25519', 'sha512', 64);

-- Identity providers: tokens are matched to one by their `iss`.
CREATE TABLE auth.providers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
  , name           text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')
  , issuer         text NOT NULL UNIQUE CHECK (issuer <> '')
  , jwks_url       text
  , audiences      text[] NOT NULL DEFAULT '{}'
  , algorithms     text[]            -- allow-list; NULL: the algorithms of the provider's own keys
  , leeway_seconds int NOT NULL DEFAULT 30 CHECK (leeway_seconds BETWEEN 0 AND 3600)
  , require_exp    boolean NOT NULL DEFAULT true
  , created_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Public keys and HMAC secrets. Each key is pinned to one algorithm.
CREATE TABLE auth.keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
  , provider_id  bigint NOT NULL REFERENCES auth.providers (id) ON DELETE CASCADE
  , kid          text
  , alg          text NOT NULL REFERENCES auth.algorithms (alg)
  , public_jwk   jsonb NOT NULL      -- the key as registered; for `oct` keys the secret is removed
  , thumbprint   text NOT NULL       -- RFC 7638 JWK thumbprint, base64url
  , source       text NOT NULL DEFAULT 'static' CHECK (source IN ('static', 'jwks'))
  , status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired', 'revoked'))
  , retired_at   timestamptz
  , verify_until timestamptz         -- a retired key verifies until then (grace period)
  , revoked_at   timestamptz
  , created_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- One key per (provider, kid, alg): duplicate kids are kept apart by algorithm.
CREATE UNIQUE INDEX keys_provider_kid_alg ON auth.keys (provider_id, coalesce(kid, ''), alg);
CREATE UNIQUE INDEX keys_provider_thumbprint_alg ON auth.keys (provider_id, thumbprint, alg);

-- Key material, precomputed at registration for fast verification, one table per key type.
CREATE TABLE auth.hmac_keys (
    key_id    bigint PRIMARY KEY REFERENCES auth.keys (id) ON DELETE CASCADE
  , ipad_key  bytea NOT NULL   -- (K' xor ipad), RFC 2104 §2, K' the key padded to the block size
  , opad_key  bytea NOT NULL   -- (K' xor opad)
  , key_bytes int NOT NULL
);

DO $$
DECLARE
  v_secret bytea := pg_catalog.sha256(pg_catalog.convert_to(
      pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text
    , 'UTF8'));
  v_block  bytea := v_secret || pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');  -- K' (64-byte block)
  v_ipad   bytea := v_block;
  v_opad   bytea := v_block;
BEGIN
  FOR i IN 0..63 LOOP
    v_ipad := pg_catalog.set_byte(v_ipad, i, pg_catalog.get_byte(v_block, i) # 54);  -- 0x36
    v_opad := pg_catalog.set_byte(v_opad, i, pg_catalog.get_byte(v_block, i) # 92);  -- 0x5c
  END LOOP;
  INSERT INTO auth.seal_secret (ipad_key, opad_key) VALUES (v_ipad, v_opad);
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA auth FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA auth FROM PUBLIC;

-- Down Migration
DROP SCHEMA auth CASCADE;
-- The roles authenticated and anonymous are cluster-wide and may serve other databases: kept.
