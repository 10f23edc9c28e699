-- Up Migration
-- authdb 0.2: the duplicate-member check of token JSON counts members in linear passes instead of
-- walking the tree in plpgsql (docs/security.md §12); it takes the token's text and its jsonb form,
-- so the old one-argument function goes (sql/functions/00_util.sql installs the new one).
DROP FUNCTION IF EXISTS auth._json_has_duplicate_members(json);

-- Down Migration
-- Nothing to restore: the function set of the version migrated to is installed after this step.
SELECT 1;
