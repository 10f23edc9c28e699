-- Up Migration
-- authdb 0.2: the revocation epoch (docs/revocation.md, "Cost"; docs/security.md §13).
-- A provider's counter of changes to its revocations: a trigger on auth.revocations
-- (sql/functions/74_revocation.sql) raises it with every write, in the writing transaction. A
-- verified-token cache entry is sealed with the epoch its token was last checked at, so a cached
-- token is probed again only after a revocation; between revocations the warm path reads nothing.
ALTER TABLE auth.providers
    ADD COLUMN revocation_epoch bigint NOT NULL DEFAULT 0;

-- The trigger needs its function to exist; its body is sql/functions/74_revocation.sql's, which
-- the function set installs right after the migrations on every install path (CREATE OR REPLACE
-- keeps this trigger), and which an older release's set may have installed already.
CREATE OR REPLACE FUNCTION auth._revocations_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER revocations_epoch
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth.revocations
  FOR EACH STATEMENT EXECUTE FUNCTION auth._revocations_changed();
-- ALWAYS: it fires under session_replication_role = replica too, so revocations that arrive by
-- logical replication (whose apply worker runs so) reach the cached tokens of the subscriber.
ALTER TABLE auth.revocations ENABLE ALWAYS TRIGGER revocations_epoch;

-- Down Migration
DROP TRIGGER revocations_epoch ON auth.revocations;
DROP FUNCTION auth._revocations_changed();
ALTER TABLE auth.providers DROP COLUMN revocation_epoch;
