-- Up Migration
-- authdb 0.2: revocation (docs/revocation.md, docs/security.md §13). A JWT cannot be taken back
-- once issued; authdb verifies inside the database, so a list of what was revoked lives next to the
-- rows it protects and replicates with them, to hot standbys too (it is data, like keys).

-- A provider's maximum token age: a token whose `iat` is older is rejected whatever its `exp`, and a
-- token without `iat` is rejected. NULL: no maximum (the default). It is also what lets
-- auth.prune_revocations() drop entries: once every token an entry could match is too old anyway.
ALTER TABLE auth.providers
    ADD COLUMN max_token_age_seconds int CHECK (max_token_age_seconds BETWEEN 1 AND 315360000);  -- up to 10 years

-- One row per revoked subject, token (`jti`) or OIDC session (`sid`), per provider:
--   * 'subject': the provider's tokens with that `sub` issued before `issued_before` (by `iat`);
--   * 'token':   the provider's tokens with that `jti` (RFC 7519 §4.1.7);
--   * 'session': the provider's tokens with that `sid` (OpenID Connect Front-Channel Logout 1.0 §3).
-- `revoked_at` is when it was (last) revoked; for 'token' and 'session' it is also the moment before
-- which every token the entry matches was issued, which is what pruning goes by.
CREATE TABLE auth.revocations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
  , provider_id   bigint NOT NULL REFERENCES auth.providers (id) ON DELETE CASCADE
  , kind          text NOT NULL CHECK (kind IN ('subject', 'token', 'session'))
  , value         text NOT NULL CHECK (value <> '' AND octet_length(value) <= 1024)
  , issued_before timestamptz CHECK ((kind = 'subject') = (issued_before IS NOT NULL))
  , revoked_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- The check of a verified token is one scan of this index: its provider, and `value` = ANY of the
-- token's sub, jti and sid (docs/revocation.md, "Cost").
CREATE UNIQUE INDEX revocations_provider_value_kind ON auth.revocations (provider_id, value, kind);

-- Owner only, as the key tables: no privilege for anyone else, and row-level security with no
-- policy, so that a member of pg_read_all_data (or a login granted SELECT by mistake) does not read
-- who was revoked. Enabled, not forced: the owner's SECURITY DEFINER functions read it as before.
REVOKE ALL ON auth.revocations FROM PUBLIC;
ALTER TABLE auth.revocations ENABLE ROW LEVEL SECURITY;

-- Down Migration
DROP TABLE auth.revocations;
ALTER TABLE auth.providers DROP COLUMN max_token_age_seconds;
-- The functions are re-created from sql/functions after a rollback, as after any migration.
