-- Up Migration
-- authdb: JWKS sync state per provider (refresh schedule, conditional-request validators, last
-- outcome), and key uniqueness that allows several kid-less keys of one algorithm.

ALTER TABLE auth.providers
    ADD COLUMN grace_seconds        int NOT NULL DEFAULT 3600  CHECK (grace_seconds BETWEEN 0 AND 2592000)
  , ADD COLUMN refresh_min_seconds  int NOT NULL DEFAULT 300   CHECK (refresh_min_seconds BETWEEN 1 AND 2592000)
  , ADD COLUMN refresh_max_seconds  int NOT NULL DEFAULT 86400 CHECK (refresh_max_seconds BETWEEN 1 AND 2592000)
  , ADD COLUMN allow_http           boolean NOT NULL DEFAULT false  -- plain http for a non-loopback JWKS URL
  , ADD COLUMN discovered_from      text          -- the OpenID configuration the jwks_url was read from
  , ADD COLUMN etag                 text          -- validators of the last 200 response (RFC 9110 §8.8)
  , ADD COLUMN last_modified        text
  , ADD COLUMN last_synced_at       timestamptz   -- last successful sync (200 or 304)
  , ADD COLUMN last_error           text          -- last failed sync: cause, never a secret
  , ADD COLUMN last_error_at        timestamptz
  , ADD COLUMN next_refresh_at      timestamptz   -- when `authdb sync-jwks` next considers it due
  , ADD CONSTRAINT providers_refresh_range CHECK (refresh_min_seconds <= refresh_max_seconds);

-- A kid is unique per (provider, alg); keys without a kid are told apart by their thumbprint
-- (keys_provider_thumbprint_alg), so a JWKS may publish several kid-less keys of one algorithm.
-- A token with a kid never matches a kid-less key, and a token without one tries each usable key.
DROP INDEX auth.keys_provider_kid_alg;
CREATE UNIQUE INDEX keys_provider_kid_alg ON auth.keys (provider_id, kid, alg) WHERE kid IS NOT NULL;

-- Down Migration
DROP INDEX auth.keys_provider_kid_alg;
-- Fails when a provider holds two kid-less keys of one algorithm: remove one first.
CREATE UNIQUE INDEX keys_provider_kid_alg ON auth.keys (provider_id, coalesce(kid, ''), alg);
ALTER TABLE auth.providers
    DROP CONSTRAINT providers_refresh_range
  , DROP COLUMN grace_seconds
  , DROP COLUMN refresh_min_seconds
  , DROP COLUMN refresh_max_seconds
  , DROP COLUMN allow_http
  , DROP COLUMN discovered_from
  , DROP COLUMN etag
  , DROP COLUMN last_modified
  , DROP COLUMN last_synced_at
  , DROP COLUMN last_error
  , DROP COLUMN last_error_at
  , DROP COLUMN next_refresh_at;
