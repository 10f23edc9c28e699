-- Revocation (docs/revocation.md, docs/security.md §13): a subject's tokens issued before a moment,
-- one token by its `jti` (RFC 7519 §4.1.7), or one OIDC session by its `sid` (OpenID Connect
-- Front-Channel Logout 1.0 §3) are rejected `revoked`; and a provider's maximum token age rejects
-- tokens whose `iat` is older, whatever their `exp`. The entries live in auth.revocations (migration
-- 0012), which only the schema owner reads or writes. Checking reads only, so it works on a hot
-- standby, where the entries arrive by replication like keys (docs/security.md §7).

-- The kind of the first revocation that matches a token of this provider ('subject', 'token' or
-- 'session'), or NULL. One scan of revocations_provider_value_kind: the provider, and `value` any
-- of the token's sub, jti and sid; each row found is then held to its own claim. A subject's
-- revocation matches tokens whose `iat` is before its moment, and tokens without `iat`: they cannot
-- show that they were issued after it.
CREATE OR REPLACE FUNCTION auth._revocation(p_provider_id bigint, p_claims jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_sub  text := p_claims ->> 'sub';
  v_jti  text := p_claims ->> 'jti';
  v_sid  text := p_claims ->> 'sid';
  -- a verified token's iat is a NumericDate in range (auth._validate_claims checked it)
  v_iat  numeric := CASE WHEN jsonb_typeof(p_claims -> 'iat') = 'number' THEN (p_claims ->> 'iat')::numeric END;
  v_kind text;
BEGIN
  SELECT r.kind INTO v_kind
    FROM auth.revocations AS r
   WHERE r.provider_id = p_provider_id
     AND r.value = ANY (ARRAY[v_sub, v_jti, v_sid])
     AND CASE r.kind
           WHEN 'subject' THEN r.value = v_sub AND (v_iat IS NULL OR v_iat < extract(epoch FROM r.issued_before))
           WHEN 'token'   THEN r.value = v_jti
           WHEN 'session' THEN r.value = v_sid
         END
   LIMIT 1;
  RETURN v_kind;
END
$$;

-- The provider's maximum token age, for a token that verified (cold or from the verified-token
-- cache), after its claims were validated: raises `missing_claim` when the age is set and the token
-- has no `iat`, `expired` when the token is older. Returns the moment the identity ends,
-- `p_valid_until` (exp + leeway, NULL without exp), brought forward to iat + maximum age + leeway.
CREATE OR REPLACE FUNCTION auth._check_token_age(p_provider auth.providers, p_claims jsonb, p_valid_until numeric)
RETURNS numeric
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_age_limit numeric;
  v_iat       numeric;
BEGIN
  IF p_provider.max_token_age_seconds IS NULL THEN
    RETURN p_valid_until;
  END IF;
  v_iat := auth._numeric_date(p_claims, 'iat');
  IF v_iat IS NULL THEN
    PERFORM auth._reject('missing_claim', format('"iat" is required by provider %s, which has a maximum token age', p_provider.name));
  END IF;
  v_age_limit := v_iat + p_provider.max_token_age_seconds + p_provider.leeway_seconds;
  IF extract(epoch FROM clock_timestamp()) > v_age_limit THEN
    PERFORM auth._reject('expired', format('"iat" is %s seconds ago, more than the maximum token age of provider %s (%s seconds)',
      trunc(extract(epoch FROM clock_timestamp()) - v_iat), p_provider.name, p_provider.max_token_age_seconds));
  END IF;
  RETURN least(p_valid_until, v_age_limit);  -- least() ignores a NULL (no exp)
END
$$;

-- The revocation check of a token that verified: its maximum age (auth._check_token_age), then the
-- probe of auth.revocations, which raises `revoked` when an entry matches. Returns what
-- _check_token_age returns. The cold path runs it for every token; the warm path only when the
-- provider's revocation_epoch moved since the token's cache entry was sealed (72_verify.sql).
CREATE OR REPLACE FUNCTION auth._check_revocation(p_provider auth.providers, p_claims jsonb, p_valid_until numeric)
RETURNS numeric
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF p_provider.max_token_age_seconds IS NOT NULL THEN
    p_valid_until := auth._check_token_age(p_provider, p_claims, p_valid_until);
  END IF;
  CASE auth._revocation(p_provider.id, p_claims)
    WHEN 'subject' THEN
      PERFORM auth._reject('revoked', format('the subject''s tokens of provider %s issued before a revocation are revoked%s', p_provider.name,
        CASE WHEN p_claims ? 'iat' THEN '' ELSE ', and the token has no "iat" to show it is newer' END));
    WHEN 'token' THEN
      PERFORM auth._reject('revoked', format('the token ("jti") was revoked for provider %s', p_provider.name));
    WHEN 'session' THEN
      PERFORM auth._reject('revoked', format('the session ("sid") was revoked for provider %s', p_provider.name));
    ELSE
      NULL;
  END CASE;
  RETURN p_valid_until;
END
$$;

-- Every write to auth.revocations (an insert, a moved moment, a prune, a hand-written DELETE or
-- TRUNCATE) raises the revocation epoch of every provider, in the writing transaction: a cached
-- token sealed with an older epoch is probed again before it is trusted (72_verify.sql). All
-- providers, not only the ones written: revocations are rare, providers few, and a statement
-- trigger sees every kind of write, including those that bypass auth.revoke_*. The trigger itself
-- is migration 0013's (enabled ALWAYS, so logical replication's apply worker fires it too).
CREATE OR REPLACE FUNCTION auth._revocations_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp  -- a trigger has no entry point to pin it (72_verify.sql)
AS $$
BEGIN
  UPDATE auth.providers SET revocation_epoch = revocation_epoch + 1;
  RETURN NULL;
END
$$;


-- Whether a session identity (auth.init(jwt, 'session')) must end now: a revocation matches its
-- claims, or its provider's maximum token age was set or lowered since and its token is now too
-- old. A transaction identity ends with its transaction and is not checked again.
CREATE OR REPLACE FUNCTION auth._session_revoked(p_provider_id bigint, p_claims jsonb)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_provider auth.providers;
  v_iat      numeric := CASE WHEN jsonb_typeof(p_claims -> 'iat') = 'number' THEN (p_claims ->> 'iat')::numeric END;
BEGIN
  SELECT * INTO v_provider FROM auth.providers AS p WHERE p.id = p_provider_id;
  IF NOT FOUND THEN
    RETURN true;
  END IF;
  IF v_provider.max_token_age_seconds IS NOT NULL
     AND (v_iat IS NULL
          OR extract(epoch FROM clock_timestamp()) > v_iat + v_provider.max_token_age_seconds + v_provider.leeway_seconds) THEN
    RETURN true;
  END IF;
  RETURN auth._revocation(p_provider_id, p_claims) IS NOT NULL;
END
$$;

-- The provider's id by name, for the owner's functions below; raises 22023 for an unknown name.
CREATE OR REPLACE FUNCTION auth._revocation_provider(p_name text)
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_id bigint;
BEGIN
  SELECT p.id INTO v_id FROM auth.providers AS p WHERE p.name = p_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('no provider named %s', p_name);
  END IF;
  RETURN v_id;
END
$$;

-- What the revoke functions accept as a sub, jti or sid: a non-empty string of at most 1024 bytes.
CREATE OR REPLACE FUNCTION auth._revocation_value(p_claim text, p_value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
  IF p_value IS NULL OR p_value = '' OR octet_length(p_value) > 1024 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('the %s to revoke must be a non-empty string of at most 1024 bytes', p_claim);
  END IF;
  RETURN p_value;
END
$$;

-- auth.revoke_subject(provider, sub, issued_before default now()): owner only (not executable by
-- PUBLIC; it writes auth.revocations). Every token of that provider whose `sub` is `sub` and whose
-- `iat` is before `issued_before` is rejected `revoked`, and so is every such token without `iat`;
-- tokens issued later pass (the user signs in again). Revoking a subject again keeps the later of
-- the two moments: a revocation never lets through a token an earlier one rejected.
CREATE OR REPLACE FUNCTION auth.revoke_subject(provider text, sub text, issued_before timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF revoke_subject.issued_before IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'issued_before must not be NULL';
  END IF;
  INSERT INTO auth.revocations AS r (provider_id, kind, value, issued_before)
  VALUES (auth._revocation_provider(revoke_subject.provider), 'subject', auth._revocation_value('sub', revoke_subject.sub),
          revoke_subject.issued_before)
  ON CONFLICT (provider_id, value, kind) DO UPDATE
     SET issued_before = greatest(r.issued_before, excluded.issued_before)
       , revoked_at = now();
END
$$;

-- The one write behind auth.revoke_token and auth.revoke_session: an entry of `p_kind` for the
-- provider's `p_claim` value (checked by auth._revocation_value); revoking the same value again
-- moves only revoked_at, to now.
-- The two stay separate functions, one statement each, because the public API names each one.
CREATE OR REPLACE FUNCTION auth._revoke_claim(p_provider text, p_kind text, p_claim text, p_value text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  INSERT INTO auth.revocations AS r (provider_id, kind, value)
  VALUES (auth._revocation_provider(p_provider), p_kind, auth._revocation_value(p_claim, p_value))
  ON CONFLICT (provider_id, value, kind) DO UPDATE SET revoked_at = now();
END
$$;

-- auth.revoke_token(provider, jti): owner only. The provider's tokens with that `jti` are rejected.
CREATE OR REPLACE FUNCTION auth.revoke_token(provider text, jti text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._revoke_claim(revoke_token.provider, 'token', 'jti', revoke_token.jti) $$;

-- auth.revoke_session(provider, sid): owner only. The provider's tokens with that OIDC `sid` are
-- rejected: every token of that sign-in session, the ones refreshed later included.
CREATE OR REPLACE FUNCTION auth.revoke_session(provider text, sid text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._revoke_claim(revoke_session.provider, 'session', 'sid', revoke_session.sid) $$;

-- The moment after which no token an entry matches can verify any more, or NULL while its provider
-- has no maximum token age (then nothing bounds how long such a token lives, and the entry stays).
-- Every token an entry matches was issued (by its `iat`) before the entry's moment: `issued_before`
-- for a subject; for a `jti` or `sid`, `revoked_at`. The maximum token age rejects each of them
-- once that moment + the age + the leeway has passed, and tokens without `iat` always.
-- (Scalar arguments: a function over the table's row type would stop migration 0012 from rolling back.)
CREATE OR REPLACE FUNCTION auth._revocation_expires_at(p_issued_before timestamptz, p_revoked_at timestamptz,
                                                       p_max_token_age_seconds int, p_leeway_seconds int)
RETURNS timestamptz
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(p_issued_before, p_revoked_at) + make_interval(secs => p_max_token_age_seconds + p_leeway_seconds)
$$;

-- auth.prune_revocations(): owner only. Deletes the entries no unexpired token can match any more
-- (auth._revocation_expires_at has passed); returns how many. `authdb revocations prune` and
-- `authdb sync-jwks` run it.
CREATE OR REPLACE FUNCTION auth.prune_revocations()
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH pruned AS (
    DELETE FROM auth.revocations AS r
     USING auth.providers AS p
     WHERE p.id = r.provider_id
       AND auth._revocation_expires_at(r.issued_before, r.revoked_at, p.max_token_age_seconds, p.leeway_seconds) < now()
    RETURNING 1
  )
  SELECT count(*) FROM pruned
$$;
