-- The audit trail (docs/operations.md, "Audit trail"; docs/security.md, "The audit trail"): with
-- the setting `authdb.audit` at `rejections` or `all`, each auth.init / auth.verify writes one line
-- to the server log with RAISE LOG, never to a table, so it works on a read-only hot standby
-- (docs/security.md §7):
--
--   authdb audit {"outcome":"rejected","code":"bad_signature","iss":…,"sub":…,"kid":…,"alg":…,
--                 "token":"<first 16 hex of SHA-256 of the token>","pid":…,"path":"cold"}
--
-- Never the token, a secret or the claims: `iss`, `sub`, `kid` and `alg` only, as the token states
-- them (unverified on a rejected line), JSON-escaped and capped, so a hostile token cannot forge
-- lines or fields. LOG goes to the server log, not to the client at the default
-- client_min_messages.
--
-- The level cannot be lowered by the session it audits: it is the higher of the session's value
-- and every `authdb.audit` configured for this database, for the session's login role, for both,
-- or for all (pg_db_role_setting: ALTER DATABASE / ALTER ROLE … SET). A session where no level was
-- ever configured nor set has no `authdb.audit` at all, and pays one current_setting() per call.
--
-- During one verification, what the rejection line needs is kept in transaction-local settings
-- (`authdb.audit_level`, `_token`, `_path`, `_iss`, `_sub`, `_kid`, `_alg`): auth._reject, where every
-- rejection is raised, writes the line from them, without an exception block (a subtransaction per
-- call). A rejection rolls them back with the statement; an accepted token clears them. Each is
-- read as text and JSON-escaped here, so a value a session forged in them is only ever logged as
-- an escaped string, never run or parsed.
--
-- The hooks auth._verify_token calls (auth._audit_begin, _audit_cached, _audit_parsed,
-- _audit_accepted) and auth._reject's auth._audit_rejected are SQL functions of one expression,
-- inlined into the caller's plan: with auditing off they cost one current_setting() each.

-- The level a value of `authdb.audit` names: 0 off (or empty), 1 rejections, 2 all. Any other
-- value counts as all: a misspelt setting fails towards logging.
CREATE OR REPLACE FUNCTION auth._audit_rank(p_value text)
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE pg_catalog.lower(pg_catalog.btrim(coalesce(p_value, '')))
    WHEN '' THEN 0 WHEN 'off' THEN 0 WHEN 'rejections' THEN 1 ELSE 2
  END
$$;

-- The level that applies to this call: the session's value, raised to what is configured for this
-- database and this session's login role. The catalog is read only when the session's value is
-- below `all` (a session cannot lower a configured level by SET, set_config or connection options).
CREATE OR REPLACE FUNCTION auth._audit_level()
RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_session    int := auth._audit_rank(pg_catalog.current_setting('authdb.audit', true));
  v_configured int;
BEGIN
  IF v_session = 2 THEN
    RETURN 2;
  END IF;
  SELECT pg_catalog.max(auth._audit_rank(pg_catalog.substr(c.setting, pg_catalog.strpos(c.setting, '=') + 1)))
    INTO v_configured
    FROM pg_catalog.pg_db_role_setting AS s
   CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(setting)
   WHERE s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database()))
     AND s.setrole IN (0, (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = session_user))
     AND pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) = 'authdb.audit';
  RETURN greatest(v_session, coalesce(v_configured, 0));
END
$$;

-- Starts the audit of one verification: its level, the token's digest, the cold path (until the
-- cache says otherwise) and no token fields yet. The digest is of tokens within the size limit only
-- (a larger one is rejected `too_large` unread, and is not hashed either).
CREATE OR REPLACE FUNCTION auth._audit_start(p_jwt text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_level int := auth._audit_level();
BEGIN
  PERFORM pg_catalog.set_config('authdb.audit_level', v_level::text, true);
  IF v_level > 0 THEN
    PERFORM pg_catalog.set_config('authdb.audit_token',
              CASE WHEN pg_catalog.octet_length(p_jwt) <= 16384
                   THEN pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_jwt, 'UTF8')), 'hex'), 16)
                   ELSE '' END, true)
          , pg_catalog.set_config('authdb.audit_path', 'cold', true)
          , auth._audit_fields(NULL, NULL);
  END IF;
END
$$;

-- Keeps the token's `iss`, `sub`, `kid` and `alg` for this verification's line: strings only (a
-- claim of another type is logged as null), at most 200 characters each.
CREATE OR REPLACE FUNCTION auth._audit_fields(p_header jsonb, p_claims jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM pg_catalog.set_config('authdb.audit_iss', auth._audit_member(p_claims, 'iss'), true)
        , pg_catalog.set_config('authdb.audit_sub', auth._audit_member(p_claims, 'sub'), true)
        , pg_catalog.set_config('authdb.audit_kid', auth._audit_member(p_header, 'kid'), true)
        , pg_catalog.set_config('authdb.audit_alg', auth._audit_member(p_header, 'alg'), true);
END
$$;

-- A string member of a token object, capped at 200 characters; '' when absent or not a string.
CREATE OR REPLACE FUNCTION auth._audit_member(p_object jsonb, p_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN pg_catalog.jsonb_typeof(p_object -> p_name) = 'string'
              THEN pg_catalog.left(p_object ->> p_name, 200) ELSE '' END
$$;

-- A kept value as a JSON string (null when empty). JSON escapes the control characters (a newline
-- cannot start a forged log line); DEL, the C1 controls, the Unicode line and paragraph separators
-- and the bidirectional controls are escaped too, for whoever reads the log in a terminal.
CREATE OR REPLACE FUNCTION auth._audit_json(p_value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c_unsafe CONSTANT text := '[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]';
  v_json   text;
  v_char   text;
BEGIN
  IF p_value IS NULL OR p_value = '' THEN
    RETURN 'null';
  END IF;
  v_json := pg_catalog.to_json(pg_catalog.left(p_value, 200))::text;
  IF v_json ~ c_unsafe THEN
    FOR v_char IN SELECT DISTINCT m[1] FROM pg_catalog.regexp_matches(v_json, '(' || c_unsafe || ')', 'g') AS m LOOP
      v_json := pg_catalog.replace(v_json, v_char, '\u' || pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.ascii(v_char)), 4, '0'));
    END LOOP;
  END IF;
  RETURN v_json;
END
$$;

-- Writes this verification's line and forgets what was kept for it.
CREATE OR REPLACE FUNCTION auth._audit_write(p_outcome text, p_code text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE LOG USING MESSAGE = 'authdb audit {"outcome":' || auth._audit_json(p_outcome)
    || ',"code":'  || auth._audit_json(p_code)
    || ',"iss":'   || auth._audit_json(pg_catalog.current_setting('authdb.audit_iss', true))
    || ',"sub":'   || auth._audit_json(pg_catalog.current_setting('authdb.audit_sub', true))
    || ',"kid":'   || auth._audit_json(pg_catalog.current_setting('authdb.audit_kid', true))
    || ',"alg":'   || auth._audit_json(pg_catalog.current_setting('authdb.audit_alg', true))
    || ',"token":' || auth._audit_json(pg_catalog.current_setting('authdb.audit_token', true))
    || ',"pid":'   || pg_catalog.pg_backend_pid()::text
    || ',"path":'  || auth._audit_json(pg_catalog.current_setting('authdb.audit_path', true))
    || '}';
  PERFORM auth._audit_forget();
END
$$;

-- Forgets what was kept for this verification: nothing of it stays readable in the transaction.
CREATE OR REPLACE FUNCTION auth._audit_forget()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM pg_catalog.set_config('authdb.audit_level', '', true)
        , pg_catalog.set_config('authdb.audit_token', '', true)
        , pg_catalog.set_config('authdb.audit_path', '', true)
        , auth._audit_fields(NULL, NULL);
END
$$;

-- On a cache hit: the path is `cached`, and the fields come from the token, whose bytes are those
-- that verified before in this backend (so they decode).
CREATE OR REPLACE FUNCTION auth._audit_note_cached(p_jwt text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM pg_catalog.set_config('authdb.audit_path', 'cached', true)
        , auth._audit_fields(pg_catalog.convert_from(auth._b64url_try_decode(pg_catalog.split_part(p_jwt, '.', 1)), 'UTF8')::jsonb
                           , pg_catalog.convert_from(auth._b64url_try_decode(pg_catalog.split_part(p_jwt, '.', 2)), 'UTF8')::jsonb);
END
$$;

-- The hooks. Each is one expression, inlined where it is called; with auditing off it reads one
-- setting. auth._audit_begin tests `authdb.audit` itself (NULL: never configured nor set in this
-- session, so off); the others test the level auth._audit_begin kept for this verification.

-- First statement of auth._verify_token.
CREATE OR REPLACE FUNCTION auth._audit_begin(p_jwt text)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE WHEN pg_catalog.current_setting('authdb.audit', true) IS NOT NULL THEN auth._audit_start(p_jwt) END
$$;

-- When the verified-token cache vouches for the token.
CREATE OR REPLACE FUNCTION auth._audit_cached(p_jwt text)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE WHEN pg_catalog.current_setting('authdb.audit_level', true) IN ('1', '2') THEN auth._audit_note_cached(p_jwt) END
$$;

-- When the cold path has parsed the token.
CREATE OR REPLACE FUNCTION auth._audit_parsed(p_header jsonb, p_claims jsonb)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE WHEN pg_catalog.current_setting('authdb.audit_level', true) IN ('1', '2') THEN auth._audit_fields(p_header, p_claims) END
$$;

-- When the token is accepted: a line at level `all`; at `rejections`, what was kept is forgotten.
CREATE OR REPLACE FUNCTION auth._audit_accepted()
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE pg_catalog.current_setting('authdb.audit_level', true)
    WHEN '2' THEN auth._audit_write('accepted', NULL)
    WHEN '1' THEN auth._audit_forget()
  END
$$;

-- From auth._reject, just before the rejection is raised.
CREATE OR REPLACE FUNCTION auth._audit_rejected(p_code text)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE WHEN pg_catalog.current_setting('authdb.audit_level', true) IN ('1', '2') THEN auth._audit_write('rejected', p_code) END
$$;
