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
-- or for all (pg_db_role_setting: ALTER DATABASE / ALTER ROLE … SET). The catalog is read only
-- when the session's own value is below what the call needs to know: a session at `all` never
-- reads it, and a session where no level was ever configured nor set has no `authdb.audit` at
-- all (configured levels are applied when a session starts), and pays one current_setting().
--
-- During one verification, what the rejection line needs is kept in transaction-local settings
-- (`authdb.audit_level`, `_token`, `_path`, `_iss`, `_sub`, `_kid`, `_alg`): auth._reject, where every
-- rejection is raised, writes the line from them, without an exception block (a subtransaction per
-- call). A rejection rolls them back with the statement; an accepted token clears them. Each is
-- read as text and JSON-escaped here, so a value a session forged in them is only ever logged as
-- an escaped string, never run or parsed.
--
-- auth._verify_token keeps whether the verification is audited in a local variable, from the
-- inlined expression auth._audit_begin: with auditing off a verification costs one
-- current_setting() and a test of that variable at each hook. The other hooks
-- (auth._audit_cached, _audit_parsed, _audit_accepted) run only when it is audited.
--
-- These are internal functions (not executable by PUBLIC) that run beneath auth.init and
-- auth.verify, whose search_path is pinned; they carry no SET clause of their own (on Postgres 15
-- and older, each SET clause costs a pass over every setting on the way out) and qualify every
-- call instead.

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

-- The highest level configured for this database and this session's login role: ALTER DATABASE
-- … SET, ALTER ROLE … SET, ALTER ROLE … IN DATABASE … SET, ALTER ROLE ALL SET (pg_db_role_setting).
-- What a session did to its own `authdb.audit` (SET, set_config, connection options) is not
-- there. A catalog read: about 7 µs, paid only when the session's value is below what it asks.
CREATE OR REPLACE FUNCTION auth._audit_configured()
RETURNS int
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(pg_catalog.max(auth._audit_rank(pg_catalog.substr(c.setting, pg_catalog.strpos(c.setting, '=') + 1))), 0)
    FROM pg_catalog.pg_db_role_setting AS s
   CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(setting)
   WHERE s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database()))
     AND s.setrole IN (0, pg_catalog.to_regrole(pg_catalog.quote_ident(session_user))::oid)
     AND pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) = 'authdb.audit'
$$;

-- Starts the audit of one verification: its level, the token's digest, the cold path (until the
-- cache says otherwise) and no token fields yet. The digest is of tokens within the size limit only
-- (a larger one is rejected `too_large` unread, and is not hashed either). The session's value
-- sets the least level; a configured level raises it (a session cannot lower it). At `rejections`
-- the configuration is read only when the token is accepted (auth._audit_accepted): whether
-- `all` is configured matters then only.
CREATE OR REPLACE FUNCTION auth._audit_start(p_jwt text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_level int := auth._audit_rank(pg_catalog.current_setting('authdb.audit', true));
BEGIN
  IF v_level = 0 THEN
    v_level := auth._audit_configured();
  END IF;
  IF v_level = 0 THEN
    PERFORM pg_catalog.set_config('authdb.audit_level', '0', true);
    RETURN false;
  END IF;
  PERFORM pg_catalog.set_config('authdb.audit_level', v_level::text, true)
        , pg_catalog.set_config('authdb.audit_token',
            CASE WHEN pg_catalog.octet_length(p_jwt) <= 16384
                 THEN pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_jwt, 'UTF8')), 'hex'), 16)
                 ELSE '' END, true)
        , pg_catalog.set_config('authdb.audit_path', 'cold', true)
        , auth._audit_parsed(NULL, NULL);
  RETURN true;
END
$$;

-- Hook (and helper): the cold path parsed the token. Keeps its `iss`, `sub`, `kid` and `alg` for
-- this verification's line: strings only (a member of another type is logged as null), at most
-- 200 characters each.
CREATE OR REPLACE FUNCTION auth._audit_parsed(p_header jsonb, p_claims jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
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

-- A kept value as JSON: a string, or null when empty. JSON escapes the control characters, so a
-- newline in a claim cannot start a forged log line.
CREATE OR REPLACE FUNCTION auth._audit_json(p_value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT coalesce(pg_catalog.to_json(NULLIF(p_value, ''))::text, 'null')
$$;

-- Writes this verification's line and forgets what was kept for it. Beyond JSON's escapes, DEL,
-- the C1 controls, the Unicode line and paragraph separators and the bidirectional controls are
-- written as \uXXXX too, for whoever reads the log in a terminal or an editor.
CREATE OR REPLACE FUNCTION auth._audit_write(p_outcome text, p_code text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  c_unsafe CONSTANT text := '[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]';
  v_line   text;
  v_char   text;
BEGIN
  v_line := 'authdb audit {"outcome":' || auth._audit_json(p_outcome)
    || ',"code":'  || auth._audit_json(p_code)
    || ',"iss":'   || auth._audit_json(pg_catalog.current_setting('authdb.audit_iss', true))
    || ',"sub":'   || auth._audit_json(pg_catalog.current_setting('authdb.audit_sub', true))
    || ',"kid":'   || auth._audit_json(pg_catalog.current_setting('authdb.audit_kid', true))
    || ',"alg":'   || auth._audit_json(pg_catalog.current_setting('authdb.audit_alg', true))
    || ',"token":' || auth._audit_json(pg_catalog.current_setting('authdb.audit_token', true))
    || ',"pid":'   || pg_catalog.pg_backend_pid()::text
    || ',"path":'  || auth._audit_json(pg_catalog.current_setting('authdb.audit_path', true))
    || '}';
  IF v_line ~ c_unsafe THEN
    FOR v_char IN SELECT DISTINCT m[1] FROM pg_catalog.regexp_matches(v_line, '(' || c_unsafe || ')', 'g') AS m LOOP
      v_line := pg_catalog.replace(v_line, v_char, '\u' || pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.ascii(v_char)), 4, '0'));
    END LOOP;
  END IF;
  RAISE LOG USING MESSAGE = v_line;
  PERFORM auth._audit_forget();
END
$$;

-- Forgets what was kept for this verification: nothing of it stays readable in the transaction.
CREATE OR REPLACE FUNCTION auth._audit_forget()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM pg_catalog.set_config('authdb.audit_level', '', true)
        , pg_catalog.set_config('authdb.audit_token', '', true)
        , pg_catalog.set_config('authdb.audit_path', '', true)
        , pg_catalog.set_config('authdb.audit_iss', '', true)
        , pg_catalog.set_config('authdb.audit_sub', '', true)
        , pg_catalog.set_config('authdb.audit_kid', '', true)
        , pg_catalog.set_config('authdb.audit_alg', '', true);
END
$$;

-- Hook: the verified-token cache vouches for the token. The path is `cached`, and the fields come
-- from the token, whose bytes are those that verified before in this backend (so they decode).
CREATE OR REPLACE FUNCTION auth._audit_cached(p_jwt text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM pg_catalog.set_config('authdb.audit_path', 'cached', true)
        , auth._audit_parsed(pg_catalog.convert_from(auth._b64url_try_decode(pg_catalog.split_part(p_jwt, '.', 1)), 'UTF8')::jsonb
                           , pg_catalog.convert_from(auth._b64url_try_decode(pg_catalog.split_part(p_jwt, '.', 2)), 'UTF8')::jsonb);
END
$$;

-- Hook, the first statement of auth._verify_token: whether this verification is audited. One
-- expression, inlined into the caller: with auditing off it reads one setting, and `authdb.audit`
-- is NULL in a session where no level was ever configured nor set.
CREATE OR REPLACE FUNCTION auth._audit_begin(p_jwt text)
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE WHEN pg_catalog.current_setting('authdb.audit', true) IS NULL THEN false ELSE auth._audit_start(p_jwt) END
$$;

-- Hook: the token is accepted. A line at level `all` (kept, or configured above the session's
-- `rejections`); otherwise what was kept is forgotten.
CREATE OR REPLACE FUNCTION auth._audit_accepted()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  IF pg_catalog.current_setting('authdb.audit_level', true) = '2' OR auth._audit_configured() = 2 THEN
    PERFORM auth._audit_write('accepted', NULL);
  ELSE
    PERFORM auth._audit_forget();
  END IF;
END
$$;

-- Hook, in auth._reject just before the rejection is raised: the line, when this verification is
-- audited. One expression, inlined.
CREATE OR REPLACE FUNCTION auth._audit_rejected(p_code text)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE WHEN pg_catalog.current_setting('authdb.audit_level', true) IN ('1', '2') THEN auth._audit_write('rejected', p_code) END
$$;
