-- Up Migration
-- authdb: a provider's epoch counts changes to its settings as well as to its revocations
-- (docs/security.md §13, docs/performance.md). A verified-token cache entry is sealed with the
-- epoch and with the moment its token stops being valid, so while the epoch holds, a cached token's
-- claims need no new check: only the clock moved. A trigger raises the epoch whenever a provider's
-- row changes in anything but its sync bookkeeping; its body is sql/functions/72_verify.sql's,
-- installed by the function set right after the migrations (this stub lets the trigger exist).
CREATE OR REPLACE FUNCTION auth._provider_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER providers_epoch
  BEFORE UPDATE ON auth.providers
  FOR EACH ROW EXECUTE FUNCTION auth._provider_changed();
-- ALWAYS: it fires under session_replication_role = replica too, so settings that arrive by
-- logical replication reach the cached tokens of the subscriber.
ALTER TABLE auth.providers ENABLE ALWAYS TRIGGER providers_epoch;
-- Entries sealed by an earlier release hold no such moment and no longer verify: the first use of
-- each cached token checks it again from scratch.

-- Down Migration
DROP TRIGGER providers_epoch ON auth.providers;
DROP FUNCTION auth._provider_changed();
