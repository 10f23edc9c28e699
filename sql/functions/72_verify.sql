-- Token verification, in the order of RFC 7515 §5.2 and RFC 7519 §7.2: parse; find the provider by
-- `iss` and the key by `kid` and `alg` (docs/security.md §1); verify the signature; validate claims.
-- Verification reads only: it works on a read-only hot standby (docs/security.md §7).

-- The provider a token names in `iss`. The claim is read before the signature is checked, only to
-- choose keys; it is checked again, with every other claim, after the signature verified.
CREATE OR REPLACE FUNCTION auth._token_provider(p_header jsonb, p_claims jsonb)
RETURNS auth.providers
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_provider auth.providers;
BEGIN
  IF NOT p_claims ? 'iss' THEN
    PERFORM auth._reject('missing_claim', '"iss" is required to choose the provider');
  END IF;
  IF jsonb_typeof(p_claims -> 'iss') <> 'string' THEN
    PERFORM auth._reject('invalid_claim', '"iss" is not a string');
  END IF;
  SELECT * INTO v_provider FROM auth.providers WHERE issuer = p_claims ->> 'iss';
  IF NOT FOUND THEN
    IF p_header ? 'kid' AND EXISTS (SELECT 1 FROM auth.keys WHERE kid = p_header ->> 'kid') THEN
      PERFORM auth._reject('issuer_mismatch', 'the key named by "kid" belongs to a provider with another issuer');
    END IF;
    PERFORM auth._reject('unknown_issuer', 'no provider has the token''s "iss" as its issuer');
  END IF;
  RETURN v_provider;
END
$$;

-- Whether a key may verify now: active, or retired and still within its grace period.
-- VOLATILE because clock_timestamp() is: a SQL function declared less volatile than its body is
-- never inlined, and would then be planned again in every transaction that calls it.
CREATE OR REPLACE FUNCTION auth._key_usable(p_key auth.keys)
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$
  SELECT p_key.status = 'active'
      OR (p_key.status = 'retired' AND coalesce(p_key.verify_until > clock_timestamp(), false))
$$;

-- Raises the rejection a key that may not verify deserves.
CREATE OR REPLACE FUNCTION auth._require_usable_key(p_key auth.keys)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF p_key.status = 'revoked' THEN
    PERFORM auth._reject('key_revoked', format('key %s was revoked', coalesce(p_key.kid, '#' || p_key.id)));
  END IF;
  IF NOT auth._key_usable(p_key) THEN
    PERFORM auth._reject('unknown_key', format('key %s was retired and its grace period is over', coalesce(p_key.kid, '#' || p_key.id)));
  END IF;
END
$$;

-- One signature check, dispatched on the algorithm's family.
CREATE OR REPLACE FUNCTION auth._verify_signature(p_key_id bigint, p_algorithm auth.algorithms, p_signing_input bytea, p_signature bytea)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  -- one statement per family: each is planned only when reached
  CASE p_algorithm.family
    WHEN 'hmac'      THEN RETURN coalesce(auth._verify_hmac(p_key_id, p_algorithm.alg, p_signing_input, p_signature), false);
    WHEN 'rsa_pkcs1' THEN RETURN coalesce(auth._verify_rsa_pkcs1(p_key_id, p_algorithm.alg, p_signing_input, p_signature), false);
    WHEN 'rsa_pss'   THEN RETURN coalesce(auth._verify_rsa_pss(p_key_id, p_algorithm.alg, p_signing_input, p_signature), false);
    WHEN 'ecdsa'     THEN RETURN coalesce(auth._verify_ecdsa(p_key_id, p_algorithm.alg, p_signing_input, p_signature), false);
    WHEN 'eddsa'     THEN RETURN coalesce(auth._verify_eddsa(p_key_id, p_algorithm.alg, p_signing_input, p_signature), false);
  END CASE;
END
$$;

-- The full check of a token; returns its claims, the key that verified it, the moment the
-- identity ends (exp + leeway), and the subject prefix of its provider (NULL: bare subjects).
-- Uses and fills the verified-token cache of this backend.
CREATE OR REPLACE FUNCTION auth._verify_token(p_jwt text, OUT claims jsonb, OUT key_id bigint, OUT valid_until numeric, OUT subject_prefix text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_digest    bytea;
  v_token     record;
  v_provider  auth.providers;
  v_key       auth.keys;
  v_kid       text;
  v_verified  boolean := false;
  v_tried     int := 0;
  v_hit       record;
  v_cached    record;  -- key_id, valid_until, epoch (auth._vcache_entry)
  v_audited   boolean;  -- audit trail (73_audit.sql)
BEGIN
  v_audited := auth._audit_begin(p_jwt);  -- audit trail (73_audit.sql)
  IF p_jwt IS NULL THEN
    PERFORM auth._reject('malformed', 'the token is NULL');
  END IF;
  IF octet_length(p_jwt) <= 16384 THEN
    v_digest := sha256(convert_to(p_jwt, 'UTF8'));
    v_cached := auth._vcache_entry(v_digest);
    key_id := v_cached.key_id;
    IF key_id IS NOT NULL THEN
      -- A hit: these very bytes verified with this key before. The key's status and the provider's
      -- allow-list are checked again now, the claims when the provider's epoch moved; the claims
      -- are decoded again from the token (the cache keeps nothing personal: docs/security.md §10).
      SELECT k AS key, p AS provider INTO v_hit
        FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id WHERE k.id = key_id;
      IF FOUND THEN
        IF v_audited THEN PERFORM auth._audit_cached(p_jwt); END IF;  -- audit trail (73_audit.sql)
        v_key := v_hit.key;
        IF NOT auth._key_usable(v_key) THEN
          PERFORM auth._require_usable_key(v_key);
        END IF;
        -- docs/security.md §1: the key is pinned to the header's alg, which the allow-list must hold.
        IF (v_hit.provider).algorithms IS NOT NULL AND NOT v_key.alg = ANY ((v_hit.provider).algorithms) THEN
          PERFORM auth._reject('unsupported_algorithm', format('provider %s does not allow %s', (v_hit.provider).name, v_key.alg));
        END IF;
        claims := convert_from(auth._b64url_try_decode(split_part(p_jwt, '.', 2)), 'UTF8')::jsonb;
        IF v_cached.epoch = (v_hit.provider).revocation_epoch THEN
          -- Neither the provider's settings nor its revocations changed since these claims passed
          -- every check (the epoch was read before those checks, so it can only be older than what
          -- they saw): only the clock moved. nbf and an iat in the future stay passed; what can end
          -- is the sealed moment, exp or the maximum token age with the leeway.
          valid_until := v_cached.valid_until;
          IF valid_until IS NOT NULL AND extract(epoch FROM clock_timestamp()) > valid_until THEN
            PERFORM auth._reject('expired', format('the token expired %s seconds ago ("exp" or the provider''s maximum token age, with the leeway)',
                                                   trunc(extract(epoch FROM clock_timestamp()) - valid_until)));
          END IF;
        ELSE
          valid_until := auth._validate_claims(v_hit.provider, claims);
          valid_until := auth._check_revocation(v_hit.provider, claims, valid_until);  -- docs/security.md §13
          PERFORM auth._vcache_put(v_digest, key_id, valid_until, (v_hit.provider).revocation_epoch);
        END IF;
        subject_prefix := (v_hit.provider).subject_prefix;
        IF v_audited THEN PERFORM auth._audit_accepted(); END IF;  -- audit trail (73_audit.sql)
        RETURN;
      END IF;
      -- The key that verified it is gone (removed, or replaced and registered again under a new
      -- id): the entry vouches for nothing any more, so the token is verified from scratch.
      key_id := NULL;
    END IF;
  END IF;

  v_token := auth._jws_parse(p_jwt);
  IF v_audited THEN PERFORM auth._audit_parsed(v_token.header, v_token.claims); END IF;  -- audit trail (73_audit.sql)
  claims := v_token.claims;
  v_provider := auth._token_provider(v_token.header, claims);
  -- docs/security.md §1: the provider's allow-list must hold the header's alg.
  IF v_provider.algorithms IS NOT NULL AND NOT (v_token.algorithm).alg = ANY (v_provider.algorithms) THEN
    PERFORM auth._reject('unsupported_algorithm', format('provider %s does not allow %s', v_provider.name, (v_token.algorithm).alg));
  END IF;

  v_kid := v_token.header ->> 'kid';
  IF v_kid IS NOT NULL THEN
    SELECT * INTO v_key FROM auth.keys AS k
     WHERE k.provider_id = v_provider.id AND k.kid = v_kid AND k.alg = (v_token.algorithm).alg;
    IF NOT FOUND THEN
      IF EXISTS (SELECT 1 FROM auth.keys AS k WHERE k.provider_id = v_provider.id AND k.kid = v_kid) THEN
        -- docs/security.md §1: a key is pinned to its algorithm (this is what stops HS256-with-the-RSA-key)
        PERFORM auth._reject('unsupported_algorithm', format('key %s is not registered for %s', v_kid, (v_token.algorithm).alg));
      END IF;
      PERFORM auth._reject('unknown_key', format('provider %s has no key %s', v_provider.name, v_kid));
    END IF;
    IF NOT auth._key_usable(v_key) THEN
      PERFORM auth._require_usable_key(v_key);
    END IF;
    v_verified := auth._verify_signature(v_key.id, v_token.algorithm, v_token.signing_input, v_token.signature);
  ELSE
    -- No kid: try the provider's usable keys of this alg (design: defaults), the two newest only
    -- (docs/security.md §12): each attempt is a full signature check, so a forged kid-less token
    -- would otherwise cost one per key. Two cover a rotation (the new key and the one it replaces);
    -- a token that only an older key verifies is rejected `bad_signature` and needs a `kid`.
    -- ES512 gets the newest only: one P-521 check costs ~4.4 ms on Debian's PostgreSQL 15, so two
    -- and a 16 KiB payload's parse came to 10.7 ms, past the 10 ms budget (`npm run bench -- --worst-case`).
    FOR v_key IN
      SELECT * FROM auth.keys AS k
       WHERE k.provider_id = v_provider.id AND k.alg = (v_token.algorithm).alg AND k.status <> 'revoked'
         AND auth._key_usable(k)
       ORDER BY k.id DESC
       LIMIT CASE WHEN (v_token.algorithm).alg = 'ES512' THEN 1 ELSE 2 END
    LOOP
      v_tried := v_tried + 1;
      v_verified := auth._verify_signature(v_key.id, v_token.algorithm, v_token.signing_input, v_token.signature);
      EXIT WHEN v_verified;
    END LOOP;
    IF v_tried = 0 THEN
      PERFORM auth._reject('unknown_key', format('provider %s has no usable %s key', v_provider.name, (v_token.algorithm).alg));
    END IF;
  END IF;
  IF NOT v_verified THEN
    PERFORM auth._reject('bad_signature', format('the signature does not verify with %s', (v_token.algorithm).alg));
  END IF;

  valid_until := auth._validate_claims(v_provider, claims);
  valid_until := auth._check_revocation(v_provider, claims, valid_until);  -- docs/security.md §13
  key_id := v_key.id;
  subject_prefix := v_provider.subject_prefix;
  IF v_digest IS NOT NULL THEN
    PERFORM auth._vcache_put(v_digest, key_id, valid_until, v_provider.revocation_epoch);  -- read before the checks
  END IF;
  IF v_audited THEN PERFORM auth._audit_accepted(); END IF;  -- audit trail (73_audit.sql)
END
$$;

-- The provider's epoch (auth.providers.revocation_epoch) rises with every change to its row but the
-- sync bookkeeping, and never falls: cache entries sealed before the change then take the full
-- check again (above), so changed audiences, issuer, leeway, allow-list, maximum age or anything
-- else apply at once. Migration 0014's trigger, BEFORE UPDATE of each row, enabled ALWAYS. Every
-- column counts unless listed here, so a setting added later counts too.
-- A trigger runs beneath whatever statement the owner (or replication) wrote, under that session's
-- search_path, with no entry point to pin it: so it pins its own.
CREATE OR REPLACE FUNCTION auth._provider_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c_bookkeeping CONSTANT text[] := ARRAY['revocation_epoch', 'etag', 'last_modified', 'last_synced_at', 'last_error',
                                         'last_error_at', 'next_refresh_at', 'sync_failures'];
BEGIN
  NEW.revocation_epoch := greatest(NEW.revocation_epoch, OLD.revocation_epoch);
  IF to_jsonb(NEW) - c_bookkeeping IS DISTINCT FROM to_jsonb(OLD) - c_bookkeeping THEN
    NEW.revocation_epoch := greatest(NEW.revocation_epoch, OLD.revocation_epoch + 1);
  END IF;
  RETURN NEW;
END
$$;
