-- Up Migration
-- authdb 0.2: bounds on what a provider's JWKS may make a forged token cost (docs/security.md §12).
-- At the defaults a forged token costs at most a few milliseconds of database CPU; a provider that
-- really publishes bigger RSA keys, or more keys, is opted in by the DBA, per provider.
ALTER TABLE auth.providers
    ADD COLUMN max_rsa_bits int NOT NULL DEFAULT 4096 CHECK (max_rsa_bits BETWEEN 2048 AND 8192)
  , ADD COLUMN max_keys     int NOT NULL DEFAULT 32   CHECK (max_keys BETWEEN 1 AND 1000);

-- Down Migration
ALTER TABLE auth.providers DROP COLUMN max_rsa_bits, DROP COLUMN max_keys;
