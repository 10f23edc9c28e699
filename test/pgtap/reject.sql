-- auth._reject (00_util.sql): every rejected token ends there, with SQLSTATE 28000
-- (invalid_authorization_specification), the message `jwt rejected: CODE`, and a DETAIL that
-- names the reason.
\ir _setup.sql
SELECT plan(9);

SELECT has_function('auth', '_reject', ARRAY['text', 'text'], 'auth._reject(code, detail) exists');
SELECT function_returns('auth', '_reject', ARRAY['text', 'text'], 'void', 'auth._reject returns nothing: it only raises');
SELECT throws_ok($$SELECT auth._reject('expired', 'the detail')$$, '28000', 'jwt rejected: expired',
  'SQLSTATE 28000 and the message "jwt rejected: CODE"');
SELECT throws_ok($$SELECT auth._reject('not_yet_valid', '')$$, '28000', 'jwt rejected: not_yet_valid',
  'an empty detail still raises 28000');
SELECT is(pg_temp.failure($$SELECT auth._reject('issuer_mismatch', '"iss" is not the issuer of provider idp')$$),
  '28000 jwt rejected: issuer_mismatch: "iss" is not the issuer of provider idp',
  'the DETAIL carries the reason as given');
-- RAISE refuses a NULL option (SQLSTATE 22004), which would turn a rejection into another error:
-- _reject replaces a NULL detail, and every call passes a literal detail or a format() anyway.
SELECT is(pg_temp.failure($$SELECT auth._reject('expired', NULL)$$), '28000 jwt rejected: expired',
  'a NULL detail still raises 28000, with an empty DETAIL');
SELECT is(
  (SELECT array_agg(p.oid::regprocedure::text ORDER BY 1)
     FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace = 'auth'::regnamespace
      AND p.prosrc ~ '_reject\(\s*''[a-z_]+''\s*,\s*(?![[:space:]'']|format\()'),
  NULL, 'every auth._reject call passes a literal or format() detail');

-- A rejection cannot be swallowed by a caller's handler for ordinary data errors: 28000 belongs
-- to class 28, not to data_exception (22) or the plpgsql errors a verifier might trap.
SELECT is(pg_temp.failure($$
  DO $do$ BEGIN PERFORM auth._reject('expired', 'x'); EXCEPTION WHEN data_exception OR raise_exception THEN NULL; END $do$
$$), '28000 jwt rejected: expired: x', 'handlers for data_exception and raise_exception do not catch it');

-- It never returns, whatever the arguments: a NULL code must not turn into a silent success.
SELECT is(pg_temp.failure($$SELECT auth._reject(NULL, NULL)$$), '28000 jwt rejected: invalid_claim',
  'a NULL code still raises 28000');

SELECT * FROM finish();
ROLLBACK;
