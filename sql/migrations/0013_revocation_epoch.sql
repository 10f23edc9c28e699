-- Up Migration
-- authdb 0.2: the revocation epoch (docs/revocation.md, "Cost"; docs/security.md §13).
-- A provider's counter of changes to its revocations: a trigger on auth.revocations
-- (sql/functions/74_revocation.sql) raises it with every write, in the writing transaction. A
-- verified-token cache entry is sealed with the epoch its token was last checked at, so a cached
-- token is probed again only after a revocation; between revocations the warm path reads nothing.
ALTER TABLE auth.providers
    ADD COLUMN revocation_epoch bigint NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE auth.providers DROP COLUMN revocation_epoch;
