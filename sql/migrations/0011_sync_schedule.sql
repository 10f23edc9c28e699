-- Up Migration
-- authdb 0.2: JWKS sync (docs/providers.md, "When a provider is refreshed").
-- A key a provider publishes verifies within a minute: providers are revalidated (a conditional
-- request, usually a 304) every 60 s at most and 30 s at least, unless their refresh bounds were
-- chosen by hand. Consecutive failures are counted, so that retries back off.
ALTER TABLE auth.providers
    ALTER COLUMN refresh_min_seconds SET DEFAULT 30
  , ALTER COLUMN refresh_max_seconds SET DEFAULT 60
  , ADD COLUMN sync_failures int NOT NULL DEFAULT 0 CHECK (sync_failures >= 0);

-- Providers on the 0.1 defaults (5 min / 24 h) take the new ones, and are due within a minute.
UPDATE auth.providers
   SET refresh_min_seconds = 30, refresh_max_seconds = 60
     , next_refresh_at = LEAST(next_refresh_at, pg_catalog.now() + interval '60 seconds')
 WHERE refresh_min_seconds = 300 AND refresh_max_seconds = 86400;

-- One key under two kids (Klarna publishes some so) is two rows, one per kid, so that tokens naming
-- either kid verify. A kid stays unique per (provider, alg) (keys_provider_kid_alg); the material
-- is unique per (provider, alg) only among kid-less keys, which nothing else tells apart.
DROP INDEX auth.keys_provider_thumbprint_alg;
CREATE UNIQUE INDEX keys_provider_thumbprint_alg ON auth.keys (provider_id, thumbprint, alg) WHERE kid IS NULL;

-- Down Migration
DROP INDEX auth.keys_provider_thumbprint_alg;
-- Fails while one key is registered under two kids: revoke or remove one of them first.
CREATE UNIQUE INDEX keys_provider_thumbprint_alg ON auth.keys (provider_id, thumbprint, alg);
UPDATE auth.providers
   SET refresh_min_seconds = 300, refresh_max_seconds = 86400
 WHERE refresh_min_seconds = 30 AND refresh_max_seconds = 60;
ALTER TABLE auth.providers
    DROP COLUMN sync_failures
  , ALTER COLUMN refresh_min_seconds SET DEFAULT 300
  , ALTER COLUMN refresh_max_seconds SET DEFAULT 86400;
