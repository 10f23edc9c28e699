-- Compact JWS parsing, auth._jws_parse (60_jws.sql), and the JSON bounds it applies
-- (auth._json_has_duplicate_members, auth._json_too_deep in 00_util.sql): every malformed token is
-- a 28000 rejection with a DETAIL naming what is wrong, before any cryptography.
\ir _setup.sql
SELECT plan(44);

-- A well-formed token parses into its parts.
SELECT is((p).header, '{"alg":"HS256","typ":"JWT"}'::jsonb, 'the header is parsed')
  FROM (SELECT auth._jws_parse(pg_temp.jws('{"alg":"HS256","typ":"JWT"}', '{"sub":"a"}')) AS p) AS t;
SELECT is((p).claims, '{"sub":"a"}'::jsonb, 'the claims are parsed')
  FROM (SELECT auth._jws_parse(pg_temp.jws('{"alg":"HS256"}', '{"sub":"a"}')) AS p) AS t;
SELECT is(((p).algorithm).alg, 'ES256', 'the algorithm row is the header''s alg')
  FROM (SELECT auth._jws_parse(pg_temp.jws('{"alg":"ES256"}', '{"sub":"a"}')) AS p) AS t;
-- RFC 7515 §5.2 step 8: the signing input is the first two parts as they were sent.
SELECT is((p).signing_input, convert_to(split_part(t.jwt, '.', 1) || '.' || split_part(t.jwt, '.', 2), 'UTF8'),
  'RFC 7515 §5.2: the signing input is "header.payload" as sent')
  FROM (SELECT jwt, auth._jws_parse(jwt) AS p FROM (SELECT pg_temp.jws('{"alg":"HS256"}', '{"sub":"a"}') AS jwt) AS j) AS t;
SELECT is((p).signature, 'sig'::bytea, 'the signature is the third part, decoded')
  FROM (SELECT auth._jws_parse(pg_temp.jws('{"alg":"HS256"}', '{"sub":"a"}', 'c2ln')) AS p) AS t;

-- docs/security.md §5: the size cap counts octets, before anything is decoded.
SELECT throws_ok(format('SELECT auth._jws_parse(%L)', repeat('a', 16385)), '28000', 'jwt rejected: too_large',
  'a token of 16,385 octets is too large');
SELECT is(pg_temp.parse_failure(repeat('a', 16384)),
  '28000 jwt rejected: malformed: a compact JWS has exactly three dot-separated parts',
  'a token of 16,384 octets passes the size cap');
SELECT is(pg_temp.parse_failure(repeat('é', 8193)),
  '28000 jwt rejected: too_large: the token has 16386 octets; the limit is 16384',
  'the cap counts octets, not characters');

-- RFC 7515 §7.1: exactly three parts, each canonical base64url.
SELECT is(pg_temp.parse_failure(jwt), '28000 jwt rejected: ' || want, description) FROM (VALUES
    ('e30.e30',
     'malformed: a compact JWS has exactly three dot-separated parts', 'two parts are malformed'),
    ('e30.e30.c2ln.c2ln',
     'malformed: a compact JWS has exactly three dot-separated parts', 'four parts (a JWE has five) are malformed'),
    ('eyJhbGciOiJIUzI1NiJ9=.e30.c2ln',
     'malformed: the header is not canonical base64url', 'a padded header is malformed'),
    ('eyJhbGciOiJIUzI1NiJ9.e31.c2ln',
     'malformed: the payload is not canonical base64url', 'a payload with nonzero pad bits is malformed'),
    ('eyJhbGciOiJIUzI1NiJ9.e30.c2l+',
     'malformed: the signature is not canonical base64url', 'a signature in the base64 alphabet is malformed')
  ) AS t(jwt, want, description);
SELECT is(pg_temp.parse_failure(pg_temp.jws('{"alg":"HS256"}', '{"sub":"a"}', '')),
  '28000 jwt rejected: malformed: the signature is empty', 'an empty signature is malformed');

-- The header and payload are UTF-8 JSON objects.
SELECT is(pg_temp.parse_failure(jwt), '28000 jwt rejected: ' || want, description) FROM (VALUES
    (auth._b64url_encode('\xff'::bytea) || '.e30.c2ln',
     'malformed: the header or payload is not UTF-8 JSON', 'a header that is not UTF-8 is malformed'),
    (pg_temp.jws('{"alg":"HS256"}', '{"sub":'),
     'malformed: the header or payload is not UTF-8 JSON', 'a payload that is not JSON is malformed'),
    (pg_temp.jws('["alg","HS256"]', '{}'),
     'malformed: the header and the payload must be JSON objects', 'an array header is malformed'),
    (pg_temp.jws('{"alg":"HS256"}', '"sub"'),
     'malformed: the header and the payload must be JSON objects', 'a string payload is malformed')
  ) AS t(jwt, want, description);
SELECT is(pg_temp.parse_failure(pg_temp.jws('{"alg":"HS256"}', '{"n":1e200000}')),
  '28000 jwt rejected: malformed: the header or payload holds a number out of range', 'a number beyond numeric''s range is malformed');

-- RFC 7515 §5.2 step 4 and RFC 7519 §4: duplicate member names are refused, at any depth and
-- however the name is spelled.
SELECT is(pg_temp.parse_failure(jwt), '28000 jwt rejected: ' || want, description) FROM (VALUES
    (pg_temp.jws('{"alg":"HS256","alg":"none"}', '{}'),
     'malformed: the header has a duplicate member', 'a duplicate header member is refused'),
    (pg_temp.jws('{"alg":"HS256"}', '{"sub":"a","sub":"b"}'),
     'malformed: the payload has a duplicate member', 'a duplicate claim is refused'),
    (pg_temp.jws('{"alg":"HS256"}', '{"sub":"a","\u0073ub":"b"}'),
     'malformed: the payload has a duplicate member', 'an escaped spelling of the same name is a duplicate'),
    (pg_temp.jws('{"alg":"HS256"}', '{"sub":"a","o":{"x":1,"x":2}}'),
     'malformed: the payload has a duplicate member', 'a duplicate inside a nested object is refused'),
    (pg_temp.jws('{"alg":"HS256"}', '{"sub":"a:b","x":"::","y":"\u003a","z":[{"x":1},{"x":2}]}'),
     NULL, 'colons inside strings and equal names in sibling objects are no duplicates')
  ) AS t(jwt, want, description);
SELECT ok(auth._json_has_duplicate_members('{"a":1,"a":1}', '{"a":1,"a":1}'::jsonb), '_json_has_duplicate_members: a repeat with the same value');
SELECT ok(NOT auth._json_has_duplicate_members('{"a":"\\","b":"\u003A"}', '{"a":"\\","b":"\u003A"}'::jsonb),
  '_json_has_duplicate_members: escaped backslashes and an upper-case \u003A escape are no duplicates');

-- docs/security.md §12: nesting is bounded at 32 levels; '{' and '[' at 256, ',' at 1024.
SELECT is(pg_temp.parse_failure(jwt), '28000 jwt rejected: ' || want, description) FROM (VALUES
    (pg_temp.jws('{"alg":"HS256"}', '{"a":' || repeat('[', 31) || '1' || repeat(']', 31) || '}'),
     NULL, 'a value inside 32 containers is accepted'),
    (pg_temp.jws('{"alg":"HS256"}', '{"a":' || repeat('[', 32) || '1' || repeat(']', 32) || '}'),
     'malformed: the header or payload nests deeper than 32 levels', 'a value inside 33 containers is refused'),
    (pg_temp.jws('{"alg":"HS256"}', '{"a":[' || repeat('[],', 254) || '[]]}'),
     'malformed: the header and payload hold more than 256 "{" and "["', '257 "{" and "[" are refused'),
    (pg_temp.jws('{"alg":"HS256"}', '{"sub":"a","a":[' || repeat('0,', 1024) || '0]}'),
     'malformed: the header and payload hold more than 1024 ","', '1,025 commas are refused'),
    (pg_temp.jws('{"alg":"HS256"}', '{"sub":"a","n":1e21}'),
     'malformed: the header or payload holds a number beyond 1e21 or below 1e-21', 'a claim of 1e21 is refused')
  ) AS t(jwt, want, description);
SELECT ok(NOT auth._json_too_deep(('{"a":' || repeat('[', 31) || repeat(']', 31) || '}')::jsonb), '_json_too_deep: 32 levels are fine');
SELECT ok(auth._json_too_deep((repeat('[', 34) || repeat(']', 34))::jsonb), '_json_too_deep: 34 nested arrays are too deep');
SELECT is(pg_temp.parse_failure(pg_temp.jws('{"alg":"HS256"}', '{"sub":"a","n":99999999999999999999,"exp":1e400}')),
  NULL, 'numbers below 1e21 pass, and exp/nbf/iat are left to the claim checks');

-- RFC 7515 §4.1.11: authdb understands no critical extension; RFC 7797 §3: b64=false is refused.
SELECT is(pg_temp.parse_failure(jwt), '28000 jwt rejected: ' || want, description) FROM (VALUES
    (pg_temp.jws('{"alg":"HS256","crit":["exp"]}', '{}'),
     'critical_header: the "crit" header is not supported', '"crit" is refused'),
    (pg_temp.jws('{"alg":"HS256","crit":[]}', '{}'),
     'critical_header: the "crit" header is not supported', 'an empty "crit" is refused too'),
    (pg_temp.jws('{"alg":"HS256","b64":false}', '{}'),
     'critical_header: the "b64" header is not supported', '"b64": false is refused')
  ) AS t(jwt, want, description);
SELECT is(pg_temp.parse_failure(pg_temp.jws('{"alg":"HS256","b64":true}', '{}')), NULL, '"b64": true, the default, is accepted');

-- alg: present, a string, in auth.algorithms; "none" never (RFC 7518 §3.6).
SELECT is(pg_temp.parse_failure(jwt), '28000 jwt rejected: ' || want, description) FROM (VALUES
    (pg_temp.jws('{"typ":"JWT"}', '{}'),
     'malformed: the "alg" header is missing or not a string', 'a header without alg is malformed'),
    (pg_temp.jws('{"alg":256}', '{}'),
     'malformed: the "alg" header is missing or not a string', 'a numeric alg is malformed'),
    (pg_temp.jws('{"alg":"none"}', '{}'),
     'unsupported_algorithm: alg none is not supported', 'RFC 7518 §3.6: alg "none" is refused'),
    (pg_temp.jws('{"alg":"NoNe"}', '{}'),
     'unsupported_algorithm: alg NoNe is not supported', '"none" in another casing is refused'),
    (pg_temp.jws('{"alg":"HS256","kid":7}', '{}'),
     'malformed: the "kid" header is not a string', 'a numeric kid is malformed')
  ) AS t(jwt, want, description);
SELECT is(pg_temp.parse_failure(pg_temp.jws('{"alg":"' || repeat('X', 100) || '"}', '{}')),
  '28000 jwt rejected: unsupported_algorithm: alg ' || repeat('X', 20) || ' is not supported',
  'the DETAIL quotes at most 20 characters of an unknown alg');

SELECT * FROM finish();
ROLLBACK;
