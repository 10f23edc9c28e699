-- Privileges (99_privileges.sql; docs/security.md): only the public API is executable by everyone;
-- the internal functions (names starting with `_`), the tables and the secrets belong to the owner
-- of the schema. Every SECURITY DEFINER function pins its search_path.
\ir _setup.sql
SELECT plan(19);

-- The executable set is exactly the identity API of the design.
SELECT set_eq(
  $$SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'auth'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
  ARRAY['auth.init(text,text)', 'auth.init()', 'auth.jwt_session_init(text)', 'auth.reset()', 'auth.session()',
        'auth.jwt()', 'auth.user_id()', 'auth.uid()', 'auth.issuer()', 'auth.subject_prefix()',
        'auth.has_claim(text,text)', 'auth.verify(text)', 'auth.version()'],
  'PUBLIC may execute the identity API and nothing else');

-- No internal function is executable by PUBLIC or by the roles tokens run as (directly or
-- through a membership).
SELECT is(
  (SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace = 'auth'::regnamespace AND p.proname LIKE '\_%' AND has_function_privilege(r.role, p.oid, 'EXECUTE')),
  NULL, format('no internal function is executable by %s', r.role))
  FROM unnest(ARRAY['public', 'authenticated', 'anonymous']) AS r(role);
SELECT ok((SELECT count(*) FROM pg_catalog.pg_proc WHERE pronamespace = 'auth'::regnamespace AND proname LIKE '\_%') > 50,
  'the check above saw the internal functions');

-- pgTAP's view of a few of them, one per concern.
SELECT function_privs_are('auth', '_reject', ARRAY['text', 'text'], 'authenticated', ARRAY[]::text[],
  'authenticated may not execute auth._reject');
SELECT function_privs_are('auth', '_hmac_padded_keys', ARRAY['text', 'bytea'], 'anonymous', ARRAY[]::text[],
  'anonymous may not execute auth._hmac_padded_keys');
SELECT function_privs_are('auth', '_mod_inverse', ARRAY['numeric', 'numeric'], 'authenticated', ARRAY[]::text[],
  'authenticated may not execute auth._mod_inverse');
SELECT function_privs_are('auth', '_verify_token', ARRAY['text'], 'authenticated', ARRAY[]::text[],
  'authenticated may not execute auth._verify_token (it returns claims without setting an identity)');
SELECT function_privs_are('auth', 'verify', ARRAY['text'], 'anonymous', ARRAY['EXECUTE'],
  'anonymous may execute auth.verify');
SELECT function_privs_are('auth', 'add_key', ARRAY['text', 'jsonb', 'text', 'text'], 'authenticated', ARRAY[]::text[],
  'authenticated may not execute auth.add_key');

-- Tables: nothing is granted to anyone but the owner (keys, HMAC secrets, the seal secret).
SELECT is(
  (SELECT array_agg(c.relname::text ORDER BY 1) FROM pg_catalog.pg_class AS c
    WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'S', 'p')
      AND (has_table_privilege(r.role, c.oid, 'SELECT') OR has_table_privilege(r.role, c.oid, 'INSERT')
           OR has_table_privilege(r.role, c.oid, 'UPDATE') OR has_table_privilege(r.role, c.oid, 'DELETE'))),
  NULL, format('no table in the auth schema is readable or writable by %s', r.role))
  FROM unnest(ARRAY['public', 'authenticated', 'anonymous']) AS r(role);
SELECT table_privs_are('auth', 'hmac_keys', 'authenticated', ARRAY[]::text[], 'authenticated has no privilege on auth.hmac_keys');
SELECT table_privs_are('auth', 'seal_secret', 'anonymous', ARRAY[]::text[], 'anonymous has no privilege on auth.seal_secret');

-- SECURITY DEFINER functions pin search_path (docs/security.md): none reads it from the caller.
SELECT is(
  (SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace = 'auth'::regnamespace AND p.prosecdef
      AND NOT coalesce(p.proconfig, '{}') && ARRAY['search_path=pg_catalog, pg_temp']),
  NULL, 'every SECURITY DEFINER function runs with search_path = pg_catalog, pg_temp');

-- And as the role itself: a direct call is refused with insufficient_privilege.
SET LOCAL ROLE authenticated;
SELECT throws_ok($$SELECT auth._mod_inverse(3, 7)$$, '42501', NULL, 'authenticated calling auth._mod_inverse gets 42501');
SELECT throws_ok($$SELECT * FROM auth.keys$$, '42501', NULL, 'authenticated reading auth.keys gets 42501');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
