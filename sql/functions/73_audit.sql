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
-- During one verification, what the rejection line needs is kept in two transaction-local
-- settings: `authdb.audit_call` (`<level>|<token digest>`) and `authdb.audit_fields` (path, iss, sub,
-- kid, alg, each a JSON literal, separated by chr(30), which no JSON literal holds). auth._reject,
-- where every rejection is raised, writes the line from them, without an exception block (a
-- subtransaction per call). A rejection rolls them back with the statement; an accepted token
-- clears them. auth._audit_begin overwrites both when a verification starts, and the line is
-- written only from values that are what auth._audit_fields_of writes: a value a session forged
-- is written as null or as an escaped string, never run, parsed or copied raw into the log.
--
-- auth._verify_token keeps whether the verification is audited in a local variable, from the
-- inlined expression auth._audit_begin: with auditing off a verification costs one
-- current_setting() and a test of that variable at each hook. The other hooks
-- (auth._audit_cached, _audit_parsed, _audit_accepted) run only when it is audited.
--
-- These are internal functions (not executable by PUBLIC) that run beneath auth.init and
-- auth.verify, whose search_path is pinned; they carry no SET clause of their own (on Postgres 15
-- and older, leaving a function with a SET clause walks every setting, some µs a call) and
-- qualify every call instead.

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
  PERFORM pg_catalog.set_config('authdb.audit_call', v_level::text || '|'
            || CASE WHEN v_level > 0 AND pg_catalog.octet_length(p_jwt) <= 16384
                    THEN pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_jwt, 'UTF8')), 'hex'), 16)
                    ELSE '' END, true)
        , pg_catalog.set_config('authdb.audit_fields', auth._audit_fields_of('cold', NULL, NULL), true);
  RETURN v_level > 0;
END
$$;

-- A kept value as JSON: a string, or null when empty. JSON escapes the control characters, so a
-- newline in a claim cannot start a forged log line. STABLE as to_json is: an SQL function is
-- inlined only when it is declared no less volatile than its body.
CREATE OR REPLACE FUNCTION auth._audit_json(p_value text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT coalesce(pg_catalog.to_json(NULLIF(p_value, ''))::text, 'null')
$$;

-- A string member of a token object, capped at 200 characters; '' when absent or not a string.
CREATE OR REPLACE FUNCTION auth._audit_member(p_object jsonb, p_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN pg_catalog.jsonb_typeof(p_object -> p_name) = 'string'
              THEN pg_catalog.left(p_object ->> p_name, 200) ELSE '' END
$$;

-- The value of `authdb.audit_fields`: the path and the token's `iss`, `sub`, `kid` and `alg`, as
-- JSON literals: strings only (a member of another type is null), at most 200 characters each.
CREATE OR REPLACE FUNCTION auth._audit_fields_of(p_path text, p_header jsonb, p_claims jsonb)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT auth._audit_json(p_path)
      || pg_catalog.chr(30) || auth._audit_json(auth._audit_member(p_claims, 'iss'))
      || pg_catalog.chr(30) || auth._audit_json(auth._audit_member(p_claims, 'sub'))
      || pg_catalog.chr(30) || auth._audit_json(auth._audit_member(p_header, 'kid'))
      || pg_catalog.chr(30) || auth._audit_json(auth._audit_member(p_header, 'alg'))
$$;

-- Hook: the cold path parsed the token.
CREATE OR REPLACE FUNCTION auth._audit_parsed(p_header jsonb, p_claims jsonb)
RETURNS text
LANGUAGE sql VOLATILE
AS $$
  SELECT pg_catalog.set_config('authdb.audit_fields', auth._audit_fields_of('cold', p_header, p_claims), true)
$$;

-- Hook: the verified-token cache vouches for the token. The path is `cached`, and the fields come
-- from the token, whose bytes are those that verified before in this backend (so they decode).
-- plpgsql, so that each part is decoded once (an inlined SQL function would decode it once for
-- every reference to its parameter).
CREATE OR REPLACE FUNCTION auth._audit_cached(p_jwt text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_header jsonb := pg_catalog.convert_from(auth._b64url_try_decode(pg_catalog.split_part(p_jwt, '.', 1)), 'UTF8')::jsonb;
  v_claims jsonb := pg_catalog.convert_from(auth._b64url_try_decode(pg_catalog.split_part(p_jwt, '.', 2)), 'UTF8')::jsonb;
BEGIN
  PERFORM pg_catalog.set_config('authdb.audit_fields', auth._audit_fields_of('cached', v_header, v_claims), true);
END
$$;

-- Forgets what was kept for this verification: nothing of it stays readable in the transaction.
CREATE OR REPLACE FUNCTION auth._audit_forget()
RETURNS text
LANGUAGE sql VOLATILE
AS $$
  SELECT pg_catalog.set_config('authdb.audit_call', '', true) || pg_catalog.set_config('authdb.audit_fields', '', true)
$$;

-- Writes this verification's line and forgets what was kept for it. A kept field that is not a
-- JSON literal as auth._audit_fields_of writes them is written as null. Beyond JSON's escapes,
-- DEL, the C1 controls, the Unicode line and paragraph separators and the bidirectional controls
-- are written as \uXXXX too, for whoever reads the log in a terminal or an editor.
CREATE OR REPLACE FUNCTION auth._audit_write(p_outcome text, p_code text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  c_literal CONSTANT text := '^(null|"([^"\\\x01-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")$';
  c_unsafe  CONSTANT text := '[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]';
  v_call    text := pg_catalog.current_setting('authdb.audit_call', true);
  v_fields  text[] := pg_catalog.string_to_array(pg_catalog.current_setting('authdb.audit_fields', true), pg_catalog.chr(30));
  v_line    text;
  v_char    text;
BEGIN
  FOR i IN 1 .. 5 LOOP
    IF v_fields[i] IS NULL OR v_fields[i] !~ c_literal THEN
      v_fields[i] := 'null';
    END IF;
  END LOOP;
  v_line := 'authdb audit {"outcome":' || auth._audit_json(p_outcome)
    || ',"code":'  || auth._audit_json(p_code)
    || ',"iss":'   || v_fields[2]
    || ',"sub":'   || v_fields[3]
    || ',"kid":'   || v_fields[4]
    || ',"alg":'   || v_fields[5]
    || ',"token":' || auth._audit_json(pg_catalog.split_part(v_call, '|', 2))
    || ',"pid":'   || pg_catalog.pg_backend_pid()::text
    || ',"path":'  || v_fields[1]
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
  IF pg_catalog.left(pg_catalog.current_setting('authdb.audit_call', true), 2) = '2|' OR auth._audit_configured() = 2 THEN
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
  SELECT CASE WHEN pg_catalog.left(pg_catalog.current_setting('authdb.audit_call', true), 2) IN ('1|', '2|')
              THEN auth._audit_write('rejected', p_code) END
$$;
