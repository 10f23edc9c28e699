-- The identity of this transaction or session (security model §2–§3).
--
-- One setting, `authdb.identity`, holds `<scope>|<valid until>|<seal, hex>|<claims>`. The seal is
-- an HMAC over all of it, bound to this backend and, for the 'transaction' scope, to the
-- transaction's start time (not its xid, which a read-only standby cannot assign). A transaction
-- identity is set with set_config(…, is_local => true), so COMMIT or ROLLBACK ends it.

CREATE OR REPLACE FUNCTION auth._identity_message(p_scope text, p_valid_until text, p_claims text)
RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT p_scope || '|' || p_valid_until || '|' || auth._backend_binding() || '|'
      || CASE WHEN p_scope = 'transaction' THEN now()::text ELSE 'session' END || '|' || p_claims
$$;

-- auth.init(jwt, scope default 'transaction') → claims
CREATE OR REPLACE FUNCTION auth.init(jwt text, scope text DEFAULT 'transaction')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_token       record;
  v_valid_until text;
  v_claims      text;
BEGIN
  IF scope IS NULL OR scope NOT IN ('transaction', 'session') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'scope must be ''transaction'' or ''session''';
  END IF;
  v_token := auth._verify_token(jwt);
  v_valid_until := coalesce(v_token.valid_until::text, '');
  v_claims := v_token.claims::text;
  IF scope = 'session' THEN
    -- a session identity replaces any transaction identity set earlier in this transaction
    PERFORM set_config('authdb.identity', '', true);
  END IF;
  PERFORM set_config('authdb.identity',
    scope || '|' || v_valid_until || '|'
      || encode(auth._seal('identity', auth._identity_message(scope, v_valid_until, v_claims)), 'hex')
      || '|' || v_claims,
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
DECLARE
  v_value       text := current_setting('authdb.identity', true);
  v_scope       text;
  v_valid_until text;
  v_seal        text;
  v_claims      text;
BEGIN
  IF v_value IS NULL OR v_value = '' THEN
    RETURN NULL;
  END IF;
  v_scope := split_part(v_value, '|', 1);
  v_valid_until := split_part(v_value, '|', 2);
  v_seal := substr(v_value, length(v_scope) + length(v_valid_until) + 3, 64);
  v_claims := substr(v_value, length(v_scope) + length(v_valid_until) + 68);
  IF NOT auth._seal_matches(v_seal, 'identity', auth._identity_message(v_scope, v_valid_until, v_claims)) THEN
    RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'auth identity rejected: the seal does not match',
      DETAIL = 'authdb.identity was set or changed outside auth.init, or copied from another transaction or backend';
  END IF;
  IF v_valid_until <> '' AND extract(epoch FROM clock_timestamp()) > v_valid_until::numeric THEN
    RETURN NULL;
  END IF;
  RETURN v_claims::jsonb;
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
  RETURN auth.session();
END
$$;

CREATE OR REPLACE FUNCTION auth.user_id()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN auth.session() ->> 'sub';
END
$$;

-- `sub` as a uuid; NULL when it is not one.
CREATE OR REPLACE FUNCTION auth.uid()
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_sub text := auth.session() ->> 'sub';
BEGIN
  RETURN CASE WHEN v_sub ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN v_sub::uuid END;
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
