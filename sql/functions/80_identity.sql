-- The identity of this transaction or session (docs/security.md §2–§3, §11).
--
-- One setting, `authdb.identity`, holds
--   `<scope>|<valid until>|<key id>|<seal>|<prefix length>|<subject prefix><claims>`.
-- The seal (auth._seal) covers all of it and a binding that is never stored in the setting:
--   * 'transaction': the pid, the server's start and the transaction's start (not its xid, which
--     a read-only standby cannot assign). A transaction identity is set with
--     set_config(…, is_local => true), so COMMIT or ROLLBACK ends it.
--   * 'session': the pid and the backend's start time. A backend that later gets the same pid
--     starts at another moment, so a captured value never passes there. Where the schema owner
--     may not see the backend's start (a non-superuser owner without pg_read_all_stats, serving a
--     separate login), session scope is refused: nothing else that another backend cannot
--     reproduce is readable without writing.
-- Every value is epoch seconds or an integer, so the seal is the same whatever TimeZone, DateStyle
-- or IntervalStyle say.

-- What binds an identity of this scope to this backend (and transaction); NULL when the scope is
-- unknown, or when 'session' cannot be bound here.
CREATE OR REPLACE FUNCTION auth._identity_binding(p_scope text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF p_scope = 'transaction' THEN
    RETURN pg_backend_pid()::text || '|' || extract(epoch FROM pg_postmaster_start_time())::text
        || '|' || extract(epoch FROM now())::text;
  ELSIF p_scope = 'session' THEN
    RETURN pg_backend_pid()::text || '|' || auth._backend_start()::text;
  END IF;
  RETURN NULL;
END
$$;

-- The identity's claims and subject prefix ('' for bare subjects); both NULL without an identity,
-- once it expired, or once the secret was rotated. A value that does not carry a valid seal
-- raises: it was forged, edited or copied. A session identity also ends when its key may no longer
-- verify (revoked, or retired past its grace period): that costs session scope one key lookup and
-- the backend-start lookup per call; transaction scope reads no table.
CREATE OR REPLACE FUNCTION auth._identity(OUT claims jsonb, OUT subject_prefix text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_value       text := current_setting('authdb.identity', true);
  v_scope       text;
  v_valid_until text;
  v_key_id      text;
  v_seal        text;
  v_rest        text;
  v_binding     text;
  v_prefix_len  text;
  v_key         auth.keys;
BEGIN
  IF v_value IS NULL OR v_value = '' THEN
    RETURN;
  END IF;
  v_scope := split_part(v_value, '|', 1);
  v_valid_until := split_part(v_value, '|', 2);
  v_key_id := split_part(v_value, '|', 3);
  v_seal := split_part(v_value, '|', 4);
  v_rest := substr(v_value, length(v_scope) + length(v_valid_until) + length(v_key_id) + length(v_seal) + 5);
  v_binding := auth._identity_binding(v_scope);
  IF v_binding IS NULL AND v_scope = 'session' THEN
    RETURN;  -- the owner does not see this backend's start: no session identity can hold
  END IF;
  IF v_binding IS NULL
     OR NOT auth._seal_matches(v_seal, 'identity',
              v_scope || '|' || v_valid_until || '|' || v_key_id || '|' || v_binding || '|' || v_rest) THEN
    IF auth._seal_is_stale(v_seal) THEN
      RETURN;  -- sealed before the secret was rotated
    END IF;
    RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'auth identity rejected: the seal does not match',
      DETAIL = 'authdb.identity was set or changed outside auth.init, or copied from another transaction or backend';
  END IF;
  IF v_valid_until <> '' AND extract(epoch FROM clock_timestamp()) > v_valid_until::numeric THEN
    RETURN;
  END IF;
  IF v_scope = 'session' THEN
    SELECT * INTO v_key FROM auth.keys AS k WHERE k.id = v_key_id::bigint;
    IF NOT FOUND OR NOT auth._key_usable(v_key) THEN
      RETURN;
    END IF;
  END IF;
  v_prefix_len := split_part(v_rest, '|', 1);
  subject_prefix := substr(v_rest, length(v_prefix_len) + 2, v_prefix_len::int);
  claims := substr(v_rest, length(v_prefix_len) + 2 + v_prefix_len::int)::jsonb;
  IF v_scope = 'session' AND auth._session_revoked(v_key.provider_id, claims) THEN claims := NULL; subject_prefix := NULL; END IF;  -- §13
END
$$;

-- auth.init(jwt, scope default 'transaction') → claims
CREATE OR REPLACE FUNCTION auth.init(jwt text, scope text DEFAULT 'transaction')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_token   record;
  v_binding text;
  v_head    text;
  v_rest    text;
BEGIN
  IF scope IS NULL OR scope NOT IN ('transaction', 'session') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'scope must be ''transaction'' or ''session''';
  END IF;
  v_binding := auth._identity_binding(scope);
  IF v_binding IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '55000',
      MESSAGE = 'session scope is not available: the owner of the auth schema cannot see when this backend started',
      DETAIL = 'A session identity is bound to the backend''s start time, so that a backend that later gets the same pid cannot replay it.',
      HINT = 'Use transaction scope (the default), or GRANT pg_read_all_stats TO the owner of the auth schema.';
  END IF;
  v_token := auth._verify_token(jwt);
  v_head := scope || '|' || coalesce(v_token.valid_until::text, '') || '|' || v_token.key_id::text || '|';
  v_rest := length(coalesce(v_token.subject_prefix, ''))::text || '|' || coalesce(v_token.subject_prefix, '') || v_token.claims::text;
  IF scope = 'session' THEN
    -- a session identity replaces any transaction identity set earlier in this transaction
    PERFORM set_config('authdb.identity', '', true);
  END IF;
  PERFORM set_config('authdb.identity',
    v_head || auth._seal('identity', v_head || v_binding || '|' || v_rest) || '|' || v_rest,
    scope = 'transaction');
  RETURN v_token.claims;
END
$$;

-- pg_session_jwt compatibility: there, auth.init() loads the one trusted key from a setting before
-- auth.jwt_session_init(jwt). authdb's keys come from the key store, so it has nothing to do; it
-- exists so that code written for pg_session_jwt runs unchanged.
CREATE OR REPLACE FUNCTION auth.init()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN;
END
$$;

-- pg_session_jwt compatibility: auth.jwt_session_init(jwt) is auth.init(jwt, 'session').
CREATE OR REPLACE FUNCTION auth.jwt_session_init(jwt text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM auth.init(jwt, 'session');
END
$$;

-- Forgets the identity, of the transaction and of the session.
CREATE OR REPLACE FUNCTION auth.reset()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM set_config('authdb.identity', '', false);
END
$$;

-- The verified claims; NULL without identity or once it expired. A value that does not carry a
-- valid seal raises: it was forged, edited or copied.
CREATE OR REPLACE FUNCTION auth.session()
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (auth._identity()).claims;
END
$$;

-- The wrappers are plpgsql, not SQL: a SECURITY DEFINER SQL function is never inlined and would be
-- planned again on every call.
CREATE OR REPLACE FUNCTION auth.jwt()
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (auth._identity()).claims;
END
$$;

-- `sub` with the provider's subject prefix (design: subjects across providers): a token of another
-- provider never passes as a user of the first, unless that provider shares its subjects.
CREATE OR REPLACE FUNCTION auth.user_id()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_identity record := auth._identity();
BEGIN
  RETURN v_identity.subject_prefix || (v_identity.claims ->> 'sub');
END
$$;

-- `sub` as a uuid; NULL when it is not one, or when the provider's subjects are prefixed (a
-- prefixed subject is not a uuid).
CREATE OR REPLACE FUNCTION auth.uid()
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_identity record := auth._identity();
  v_sub      text := v_identity.claims ->> 'sub';
BEGIN
  RETURN CASE WHEN v_identity.subject_prefix = ''
               AND v_sub ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN v_sub::uuid END;
END
$$;

-- The prefix auth.user_id() puts before `sub`, and the policy templates before tenant and role
-- claims: '' for a provider with bare subjects; NULL without identity.
CREATE OR REPLACE FUNCTION auth.subject_prefix()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (auth._identity()).subject_prefix;
END
$$;

-- Whether the identity's claim `claim` is `value`, or a JSON array that holds it, behind the
-- provider's subject prefix: for provider `b` (prefix `b:`), "roles": ["admin"] holds 'b:admin',
-- not 'admin'. False without identity. What auth.policy_claim's policies call.
CREATE OR REPLACE FUNCTION auth.has_claim(claim text, value text)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_identity record := auth._identity();
BEGIN
  RETURN coalesce(starts_with(value, v_identity.subject_prefix)
                  AND (v_identity.claims -> claim) @> to_jsonb(substr(value, length(v_identity.subject_prefix) + 1)), false);
END
$$;

-- The verified token's `iss`; NULL without identity.
CREATE OR REPLACE FUNCTION auth.issuer()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (auth._identity()).claims ->> 'iss';
END
$$;

-- Verifies a token and returns its claims without touching the identity.
CREATE OR REPLACE FUNCTION auth.verify(jwt text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (auth._verify_token(jwt)).claims;
END
$$;

-- The installed authdb schema version.
CREATE OR REPLACE FUNCTION auth.version()
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT version FROM auth.installation
$$;
