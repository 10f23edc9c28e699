-- Up Migration
-- authdb 0.2: the sealing secret is a credential (docs/security.md §11).
--
-- A generation number counts rotations (auth.rotate_seal_secret()): a seal carries the generation
-- it was made under, so an identity sealed before a rotation reads as no identity rather than as
-- tampering.
ALTER TABLE auth.seal_secret
    ADD COLUMN generation bigint NOT NULL DEFAULT 1 CHECK (generation > 0);

-- Row-level security with no policy: nobody but the owner (and superusers, and roles with
-- BYPASSRLS) reads a row, so a member of pg_read_all_data, or a login granted SELECT by mistake,
-- reads neither the sealing secret nor HMAC key material. Enabled, not forced: the owner's
-- SECURITY DEFINER functions read them as before.
ALTER TABLE auth.seal_secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.hmac_keys ENABLE ROW LEVEL SECURITY;

-- Functions whose result type changed: sql/functions re-creates them right after this migration.
DROP FUNCTION IF EXISTS auth._verify_token(text);
DROP FUNCTION IF EXISTS auth._vcache_get(bytea);
DROP FUNCTION IF EXISTS auth._vcache_put(bytea, bigint, jsonb);
DROP FUNCTION IF EXISTS auth._seal(text, text);
DROP FUNCTION IF EXISTS auth._identity_message(text, text, text);
DROP FUNCTION IF EXISTS auth._backend_binding();

-- Down Migration
ALTER TABLE auth.hmac_keys DISABLE ROW LEVEL SECURITY;
ALTER TABLE auth.seal_secret DISABLE ROW LEVEL SECURITY;
ALTER TABLE auth.seal_secret DROP COLUMN generation;
-- The functions are re-created from sql/functions after a rollback, as after any migration.
