-- The identity of this transaction or session (docs/security.md §2–§3, §11).
--
-- One setting, `authdb.identity`, holds seven fields separated by '|':
--   `<scope>|<valid until>|<key id>|<seal>|<user id>|<subject prefix>|<claims>`
-- scope `t` (transaction) or `s` (session); valid until, epoch seconds or empty; the user id
-- (subject prefix and `sub`, what auth.user_id() returns) and the prefix with '%' and '|' written
-- %25 and %7C; the claims as JSON text with every '|' written \u007c (a JSON escape, so the text
-- parses to the same claims). No field holds a '|', so each is cut out by split_part, which
-- searches bytes, instead of substr(), which counts characters from the start in UTF-8; and the
-- user id is read without parsing the claims: a policy's (select auth.user_id()) pays neither
-- (docs/performance.md). Values written by 0.2 and earlier (scope `transaction` or
-- `session`) read as no identity.
-- The seal (auth._seal) covers all of it and a binding that is never stored in the setting:
--   * 't': the pid, the server's start and the transaction's start (not its xid, which a
--     read-only standby cannot assign). A transaction identity is set with
--     set_config(…, is_local => true), so COMMIT or ROLLBACK ends it.
--   * 's': the pid and the backend's start time. A backend that later gets the same pid starts at
--     another moment, so a captured value never passes there. Where the schema owner may not see
--     the backend's start (a non-superuser owner without pg_read_all_stats, serving a separate
--     login), session scope is refused: nothing else that another backend cannot reproduce is
--     readable without writing.
-- Every value is epoch seconds or an integer, so the seal is the same whatever TimeZone, DateStyle
-- or IntervalStyle say.

-- What binds an identity of scope 't' or 's' to this backend (and transaction); NULL for any other
-- scope, or when 's' cannot be bound here.
CREATE OR REPLACE FUNCTION auth._identity_binding(p_scope text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF p_scope = 't' THEN
    RETURN pg_backend_pid()::text || '|' || extract(epoch FROM pg_postmaster_start_time())::text
        || '|' || extract(epoch FROM now())::text;
  ELSIF p_scope = 's' THEN
    RETURN pg_backend_pid()::text || '|' || auth._backend_start()::text;
  END IF;
  RETURN NULL;
END
$$;

-- A user id or subject prefix as an identity field: '%' and '|' escaped, so that no field holds a
-- '|' and the escaping reverses exactly.
CREATE OR REPLACE FUNCTION auth._identity_escape(p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT replace(replace(p_text, '%', '%25'), '|', '%7C')
$$;

-- The inverse of auth._identity_escape.
CREATE OR REPLACE FUNCTION auth._identity_unescape(p_field text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT replace(replace(p_field, '%7C', '|'), '%25', '%')
$$;

-- Makes these claims the identity of this transaction (scope 't') or session ('s'), sealed with
-- `p_binding` (auth._identity_binding of the scope). What auth.init does once a token verified,
-- and auth._impersonate (82_why.sql) for the owner's `authdb why`.
CREATE OR REPLACE FUNCTION auth._identity_set(p_scope text, p_binding text, p_valid_until numeric, p_key_id bigint,
                                              p_subject_prefix text, p_claims jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_head text := p_scope || '|' || coalesce(p_valid_until::text, '') || '|' || p_key_id::text;
  v_body text := auth._identity_escape(p_subject_prefix || (p_claims ->> 'sub')) || '|'
              || auth._identity_escape(p_subject_prefix) || '|' || replace(p_claims::text, '|', '\u007c');
BEGIN
  IF p_scope = 's' THEN
    -- a session identity replaces any transaction identity set earlier in this transaction
    PERFORM set_config('authdb.identity', '', true);
  END IF;
  PERFORM set_config('authdb.identity',
    v_head || '|' || auth._seal('identity', v_head || '|' || p_binding || '|' || v_body) || '|' || v_body,
    p_scope = 't');
END
$$;

-- The identity's user id, subject prefix ('' for bare subjects) and claims (JSON text); all NULL
-- without an identity, once it expired, or once the secret was rotated. A value that does not
-- carry a valid seal raises: it was forged, edited or copied. A session identity also ends when
-- its key may no longer verify (revoked, or retired past its grace period) or a revocation covers
-- it: that costs session scope a key lookup, the revocation probe and the backend-start lookup per
-- call; transaction scope reads no table.
CREATE OR REPLACE FUNCTION auth._identity_fields(OUT user_id text, OUT subject_prefix text, OUT claims text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_value   text := current_setting('authdb.identity', true);
  v_scope   text := split_part(v_value, '|', 1);
  v_binding text;
  v_key     auth.keys;
BEGIN
  IF v_value IS NULL OR v_value = '' THEN
    RETURN;
  END IF;
  v_binding := auth._identity_binding(v_scope);
  IF v_binding IS NULL AND v_scope = 's' THEN
    RETURN;  -- the owner does not see this backend's start: no session identity can hold
  END IF;
  -- the seal covers the seven fields; nothing after a seventh '|' is ever read
  IF v_binding IS NULL
     OR auth._seal_matches(split_part(v_value, '|', 4), 'identity',
          v_scope || '|' || split_part(v_value, '|', 2) || '|' || split_part(v_value, '|', 3) || '|' || v_binding || '|'
          || split_part(v_value, '|', 5) || '|' || split_part(v_value, '|', 6) || '|' || split_part(v_value, '|', 7)) IS NOT TRUE THEN
    IF auth._seal_is_stale(split_part(v_value, '|', 4)) OR v_scope IN ('transaction', 'session') THEN
      RETURN;  -- sealed before the secret was rotated, or written by 0.2 or earlier
    END IF;
    RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'auth identity rejected: the seal does not match',
      DETAIL = 'authdb.identity was set or changed outside auth.init, or copied from another transaction or backend';
  END IF;
  IF split_part(v_value, '|', 2) <> '' AND extract(epoch FROM clock_timestamp()) > split_part(v_value, '|', 2)::numeric THEN
    RETURN;
  END IF;
  claims := split_part(v_value, '|', 7);
  IF v_scope = 's' THEN
    SELECT * INTO v_key FROM auth.keys AS k WHERE k.id = split_part(v_value, '|', 3)::bigint;
    IF NOT FOUND OR NOT auth._key_usable(v_key) OR auth._session_revoked(v_key.provider_id, claims::jsonb) THEN  -- §13
      claims := NULL;
      RETURN;
    END IF;
  END IF;
  user_id := auth._identity_unescape(split_part(v_value, '|', 5));
  subject_prefix := auth._identity_unescape(split_part(v_value, '|', 6));
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
BEGIN
  IF scope IS NULL OR scope NOT IN ('transaction', 'session') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'scope must be ''transaction'' or ''session''';
  END IF;
  v_binding := auth._identity_binding(left(scope, 1));
  IF v_binding IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '55000',
      MESSAGE = 'session scope is not available: the owner of the auth schema cannot see when this backend started',
      DETAIL = 'A session identity is bound to the backend''s start time, so that a backend that later gets the same pid cannot replay it.',
      HINT = 'Use transaction scope (the default), or GRANT pg_read_all_stats TO the owner of the auth schema.';
  END IF;
  v_token := auth._verify_token(jwt);
  PERFORM auth._identity_set(left(scope, 1), v_binding, v_token.valid_until, v_token.key_id,
                             coalesce(v_token.subject_prefix, ''), v_token.claims);
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
  RETURN (auth._identity_fields()).claims::jsonb;
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
  RETURN (auth._identity_fields()).claims::jsonb;
END
$$;

-- `sub` with the provider's subject prefix (design: subjects across providers): a token of another
-- provider never passes as a user of the first, unless that provider shares its subjects.
CREATE OR REPLACE FUNCTION auth.user_id()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (auth._identity_fields()).user_id;
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
  v_identity record := auth._identity_fields();
BEGIN
  RETURN CASE WHEN v_identity.subject_prefix = ''
               AND v_identity.user_id ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN v_identity.user_id::uuid END;
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
  RETURN (auth._identity_fields()).subject_prefix;
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
  v_identity record := auth._identity_fields();
BEGIN
  RETURN coalesce(starts_with(value, v_identity.subject_prefix)
                  AND (v_identity.claims::jsonb -> claim) @> to_jsonb(substr(value, length(v_identity.subject_prefix) + 1)), false);
END
$$;

-- The verified token's `iss`; NULL without identity.
CREATE OR REPLACE FUNCTION auth.issuer()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (auth._identity_fields()).claims::jsonb ->> 'iss';
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
