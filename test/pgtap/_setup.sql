-- Included by every test file (`\ir _setup.sql`), as pgTAP's own test/setup.sql: quiet output
-- that is only TAP, stop at the first error, one transaction the file rolls back, and the helpers
-- the files share (temporary functions, gone with the session).
\set QUIET 1
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
BEGIN;

-- How a statement fails: 'SQLSTATE message: detail', or NULL when it succeeds. pgTAP's throws_ok
-- checks the SQLSTATE and the message; rejections also promise a DETAIL that names the reason.
CREATE FUNCTION pg_temp.failure(p_sql text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
  v_state   text;
  v_message text;
  v_detail  text;
BEGIN
  EXECUTE p_sql;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
  RETURN v_state || ' ' || v_message || coalesce(': ' || nullif(v_detail, ''), '');
END
$$;

-- A compact JWS (RFC 7515 §7.1) of the given header and payload texts, each base64url-encoded
-- as is (so duplicates, odd spacing and invalid JSON survive), with an arbitrary signature part.
CREATE FUNCTION pg_temp.jws(p_header text, p_payload text, p_signature text DEFAULT 'c2ln')
RETURNS text
LANGUAGE sql
AS $$
  SELECT auth._b64url_encode(convert_to(p_header, 'UTF8')) || '.'
      || auth._b64url_encode(convert_to(p_payload, 'UTF8')) || '.' || p_signature
$$;

-- How auth._jws_parse fails on a token (NULL when it parses).
CREATE FUNCTION pg_temp.parse_failure(p_jwt text)
RETURNS text
LANGUAGE sql
AS $$ SELECT pg_temp.failure(format('SELECT auth._jws_parse(%L)', p_jwt)) $$;
