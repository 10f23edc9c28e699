-- Up Migration
-- authdb 0.2: subjects across providers (docs/security.md). A provider's subject prefix is put in
-- front of `sub` by auth.user_id(), auth.uid() and the policy templates, so that a token of one
-- provider never passes as a user of another. NULL: the provider's subjects are used bare (the
-- first provider, or one registered with --shared-subjects). Providers registered before 0.2 keep
-- their bare subjects, so existing policies keep working; `authdb doctor` flags two or more
-- providers sharing subjects.
ALTER TABLE auth.providers
    ADD COLUMN subject_prefix text CHECK (subject_prefix <> '' AND subject_prefix !~ '[[:cntrl:]]');

-- Down Migration
ALTER TABLE auth.providers DROP COLUMN subject_prefix;
