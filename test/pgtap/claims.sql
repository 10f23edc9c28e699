-- Claim validation (70_claims.sql): auth._numeric_date reads a NumericDate (RFC 7519 §2) within
-- 1970..9999, auth._validate_claims applies RFC 7519 §4.1 with the provider's leeway, issuer and
-- audiences. Every failure is a 28000 rejection; the DETAIL names the claim.
\ir _setup.sql
SELECT plan(36);

-- auth._numeric_date
SELECT is(auth._numeric_date('{"sub":"a"}', 'exp'), NULL, 'an absent claim is NULL');
SELECT is(auth._numeric_date('{"exp":1700000000}', 'exp'), 1700000000::numeric, 'a date is its number of seconds');
SELECT is(auth._numeric_date('{"exp":1700000000.5}', 'exp'), 1700000000.5, 'RFC 7519 §2: fractional seconds are kept');
SELECT is(auth._numeric_date('{"nbf":0}', 'nbf'), 0::numeric, '0 (1970-01-01T00:00:00Z) is the first date');
SELECT is(auth._numeric_date('{"exp":253402300799}', 'exp'), 253402300799::numeric, '253402300799 (9999-12-31T23:59:59Z) is the last date');
SELECT is(pg_temp.failure(format('SELECT auth._numeric_date(%L, %L)', claims, name)), '28000 jwt rejected: invalid_claim: ' || want, description)
  FROM (VALUES
    ('{"exp":253402300800}', 'exp', '"exp" is not a date between 1970 and 9999', 'one second after 9999 is invalid'),
    ('{"exp":1e400}',        'exp', '"exp" is not a date between 1970 and 9999', '"exp": 1e400 is no token that never expires'),
    ('{"nbf":-1}',           'nbf', '"nbf" is not a date between 1970 and 9999', 'a negative date is invalid'),
    ('{"nbf":-1e400}',       'nbf', '"nbf" is not a date between 1970 and 9999', '"nbf": -1e400 is no token valid since forever'),
    ('{"exp":"1700000000"}', 'exp', '"exp" is not a number', 'a date written as a string is invalid'),
    ('{"iat":null}',         'iat', '"iat" is not a number', 'a JSON null date is invalid, not absent'),
    ('{"exp":[1700000000]}', 'exp', '"exp" is not a number', 'a date inside an array is invalid')
  ) AS v(claims, name, want, description);

-- auth._validate_claims, against providers made in this transaction.
INSERT INTO auth.providers (name, issuer, audiences) VALUES ('idp', 'https://idp.example', '{api,admin}');
INSERT INTO auth.providers (name, issuer, require_exp, leeway_seconds) VALUES ('open', 'https://open.example', false, 0);

-- The seconds since the epoch, now.
CREATE FUNCTION pg_temp.now_s() RETURNS bigint LANGUAGE sql AS $$ SELECT extract(epoch FROM clock_timestamp())::bigint $$;
-- Claims for provider idp that pass, with p_changes merged over them (a JSON null removes a claim).
CREATE FUNCTION pg_temp.claims(p_changes jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object('iss', 'https://idp.example', 'sub', 'user-1', 'aud', 'api',
                                              'exp', pg_temp.now_s() + 600) || p_changes)
$$;
-- How auth._validate_claims fails for a provider (NULL when the claims pass).
CREATE FUNCTION pg_temp.claims_failure(p_claims jsonb, p_provider text DEFAULT 'idp') RETURNS text LANGUAGE sql AS $$
  SELECT pg_temp.failure(format('SELECT auth._validate_claims(p, %L) FROM auth.providers AS p WHERE p.name = %L', p_claims, p_provider))
$$;

SELECT is(auth._validate_claims(p, pg_temp.claims(jsonb_build_object('exp', 2000000000))), 2000000030::numeric,
  'valid claims give exp + leeway (30 s), when the identity stops being valid')
  FROM auth.providers AS p WHERE p.name = 'idp';
SELECT is(pg_temp.claims_failure(pg_temp.claims()), NULL, 'the baseline claims pass');

-- exp, nbf, iat with the leeway (RFC 7519 §4.1.4, §4.1.5, §4.1.6).
SELECT is(pg_temp.claims_failure(pg_temp.claims(jsonb_build_object('exp', pg_temp.now_s() - 20))), NULL,
  'RFC 7519 §4.1.4: exp 20 s ago is within the 30 s leeway');
SELECT matches(pg_temp.claims_failure(pg_temp.claims(jsonb_build_object('exp', pg_temp.now_s() - 60))),
  '^28000 jwt rejected: expired: "exp" passed \d+ seconds ago$', 'RFC 7519 §4.1.4: exp 60 s ago is expired');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"exp":null}')), '28000 jwt rejected: missing_claim: "exp" is required',
  'exp is required by default');
SELECT is(pg_temp.claims_failure('{"iss":"https://open.example","sub":"u"}', 'open'), NULL,
  'a provider with require_exp off accepts a token without exp');
SELECT is(auth._validate_claims(p, '{"iss":"https://open.example","sub":"u"}'), NULL, '… and the identity has no end')
  FROM auth.providers AS p WHERE p.name = 'open';
SELECT matches(pg_temp.claims_failure(jsonb_build_object('iss', 'https://open.example', 'sub', 'u', 'exp', pg_temp.now_s() - 2), 'open'),
  '^28000 jwt rejected: expired:', 'with no leeway, exp 2 s ago is expired');
SELECT is(pg_temp.claims_failure(pg_temp.claims(jsonb_build_object('nbf', pg_temp.now_s() + 20))), NULL,
  'RFC 7519 §4.1.5: nbf 20 s ahead is within the leeway');
SELECT matches(pg_temp.claims_failure(pg_temp.claims(jsonb_build_object('nbf', pg_temp.now_s() + 120))),
  '^28000 jwt rejected: not_yet_valid: "nbf" is \d+ seconds ahead$', 'RFC 7519 §4.1.5: nbf 120 s ahead is not yet valid');
SELECT matches(pg_temp.claims_failure(pg_temp.claims(jsonb_build_object('iat', pg_temp.now_s() + 120))),
  '^28000 jwt rejected: issued_in_future: "iat" is \d+ seconds ahead$', 'RFC 7519 §4.1.6: iat 120 s ahead is refused');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"exp":"soon"}')), '28000 jwt rejected: invalid_claim: "exp" is not a number',
  'a string exp is invalid');

-- iss (RFC 7519 §4.1.1): exactly the provider's issuer, as a JSON string.
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"iss":"https://idp.example/"}')),
  '28000 jwt rejected: issuer_mismatch: "iss" is not the issuer of provider idp', 'another issuer (a trailing slash) is refused');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"iss":["https://idp.example"]}')),
  '28000 jwt rejected: issuer_mismatch: "iss" is not the issuer of provider idp', 'the issuer inside an array is refused');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"iss":null}')),
  '28000 jwt rejected: issuer_mismatch: "iss" is not the issuer of provider idp', 'a token without iss is refused');

-- aud (RFC 7519 §4.1.3): a string or an array of strings, naming one of the provider's audiences.
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"aud":["other","admin"]}')), NULL, 'an array naming one audience passes');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"aud":"other"}')),
  '28000 jwt rejected: audience_mismatch: "aud" names none of the audiences of provider idp', 'another audience is refused');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"aud":[]}')),
  '28000 jwt rejected: audience_mismatch: "aud" names none of the audiences of provider idp', 'an empty audience array is refused');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"aud":null}')),
  '28000 jwt rejected: missing_claim: "aud" is required by provider idp', 'aud is required when the provider has audiences');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"aud":["api",1]}')),
  '28000 jwt rejected: invalid_claim: "aud" must be a string or an array of strings', 'a number inside aud is invalid');
SELECT is(pg_temp.claims_failure('{"iss":"https://open.example","sub":"u","aud":{"api":true}}', 'open'),
  '28000 jwt rejected: invalid_claim: "aud" must be a string or an array of strings',
  'aud is checked for its type even where the provider has no audiences');

-- sub (RFC 7519 §4.1.2): required, a non-empty string.
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"sub":null}')), '28000 jwt rejected: missing_claim: "sub" is required',
  'sub is required');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"sub":""}')), '28000 jwt rejected: invalid_claim: "sub" must be a non-empty string',
  'an empty sub is invalid');
SELECT is(pg_temp.claims_failure(pg_temp.claims('{"sub":42}')), '28000 jwt rejected: invalid_claim: "sub" must be a non-empty string',
  'a numeric sub is invalid');

SELECT * FROM finish();
ROLLBACK;
