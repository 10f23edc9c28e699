-- What the key types share: auth._jwk_octets, the one reader of a JWK's base64url members
-- (50_keys.sql), and auth._rsavp1, steps 1-2 of both RSA verifications: the key, the length check
-- and RSAVP1 (RFC 8017 §5.2.2), m = s^e mod n for s < n (30_rsa.sql).
\ir _setup.sql
SELECT plan(20);

-- auth._jwk_octets: the decoded member, or SQLSTATE 22023 naming the key type and the member.
SELECT is(auth._jwk_octets('{"k":"Zm9v"}', 'oct', 'k'), '\x666f6f'::bytea, 'a canonical member decodes');
SELECT throws_ok($$SELECT auth._jwk_octets('{}', 'oct', 'k')$$, '22023',
  'oct key: member "k" is missing or not a string', 'a missing member is refused');
SELECT throws_ok($$SELECT auth._jwk_octets('{"x":42}', 'OKP', 'x')$$, '22023',
  'OKP key: member "x" is missing or not a string', 'a number is refused');
SELECT throws_ok($$SELECT auth._jwk_octets('{"n":"Zg=="}', 'RSA', 'n')$$, '22023',
  'RSA key: "n" is not canonical base64url', 'padding is refused (RFC 7515 §2)');
SELECT throws_ok($$SELECT auth._jwk_octets('{"y":"Zh"}', 'EC', 'y')$$, '22023',
  'EC key: "y" is not canonical base64url', 'nonzero pad bits are refused');
SELECT throws_ok($$SELECT auth._jwk_octets('{"n":"a+b/"}', 'RSA', 'n')$$, '22023',
  'RSA key: "n" is not canonical base64url', 'the base64 alphabet is refused');

-- auth._rsavp1 on a 2048-bit RS256 key with e = 65537.
SELECT auth.add_provider('pgtap-rsa', 'https://pgtap-rsa.test') AS provider_id \gset
SELECT auth.add_key('pgtap-rsa', '{"kty":"RSA","alg":"RS256","kid":"r","e":"AQAB","n":"4XgjMoX6a9oC8DS9dKAxz8hbZtOuCXMucBuDAK7VG6ndQMQ6F-DNvWjDl-xUpGY9vwt6fZXj8rHMQfWH2nbqcOXg_bjPZzjqUCz-hcG2Kj_Z2Up2VAVfg38kbHf60IlJqjYvV_8dl-Dl0ZOp_eK-l70PoPTE7y6BbDG-UkFeErya-uXLrh9kuAERUkacoQJuXnAL7oDZtMXRnU2pWUR-dXyX5yF4NhR84F_D3PlEhOs8zluBgSDFElCT5mYbos9dFodr46I1UYmcN_E7XWzxophF4goYEiE3bZLEynr4K_SZ2sVjnRpQOqY3hIo22Gn8ZMoBr2GXI_bYatsEUahhhw"}') AS key_id \gset
CREATE TEMP TABLE rsa AS SELECT r.key_id AS id, r.n FROM auth.rsa_keys AS r WHERE r.key_id = :key_id;
CREATE FUNCTION pg_temp.vp(p_s bytea, p_alg text DEFAULT 'RS256', p_family text DEFAULT 'rsa_pkcs1')
RETURNS numeric
LANGUAGE sql
AS $$ SELECT (auth._rsavp1((SELECT id FROM rsa), p_alg, p_family, p_s)).m $$;
CREATE FUNCTION pg_temp.octets(p_value numeric, p_len int DEFAULT 256)
RETURNS bytea
LANGUAGE sql
AS $$ SELECT auth._numeric_to_bytes(p_value, p_len) $$;

SELECT is(pg_temp.vp(pg_temp.octets(1)), 1::numeric, '1^e mod n = 1');
SELECT is(pg_temp.vp(pg_temp.octets(n - 1)), n - 1, '(n - 1)^e mod n = n - 1 for an odd e') FROM rsa;
SELECT is(pg_temp.vp(pg_temp.octets(2)), mod(power(2::numeric, 65537), n), '2^65537 mod n, as numeric computes it without Barrett') FROM rsa;
SELECT is(pg_temp.vp(pg_temp.octets(3)), mod(power(3::numeric, 65537), n), '3^65537 mod n, likewise') FROM rsa;
SELECT is(row(v.mod_bits, v.hash, v.hash_bytes, v.pkcs1_prefix IS NOT NULL)::text, '(2048,sha256,32,t)',
  'it returns what the encoding checks need from the key and the algorithm')
  FROM rsa, auth._rsavp1(rsa.id, 'RS256', 'rsa_pkcs1', pg_temp.octets(1)) AS v;

-- RFC 8017 §8.1.2 / §8.2.2 step 1: exactly k octets; §5.2.2: s < n. Anything else: NULL.
SELECT is(pg_temp.vp(pg_temp.octets(1, 255)), NULL, 'a signature one octet short');
SELECT is(pg_temp.vp(pg_temp.octets(1, 257)), NULL, 'a signature one octet long');
SELECT is(pg_temp.vp(pg_temp.octets(n)), NULL, 's = n is out of range') FROM rsa;
SELECT is(pg_temp.vp(decode(repeat('ff', 256), 'hex')), NULL, 's = 256^k - 1 is out of range');
SELECT is(pg_temp.vp(NULL), NULL, 'no signature');
-- the key must be registered for this algorithm and family
SELECT is(pg_temp.vp(pg_temp.octets(1), 'RS256', 'rsa_pss'), NULL, 'an RS256 key is no PSS key');
SELECT is(pg_temp.vp(pg_temp.octets(1), 'RS384'), NULL, 'an RS256 key is no RS384 key');
SELECT is((auth._rsavp1(-1, 'RS256', 'rsa_pkcs1', pg_temp.octets(1))).m, NULL, 'an unknown key');
SELECT is(auth._verify_rsa_pkcs1((SELECT id FROM rsa), 'RS256', '\x00', pg_temp.octets(1)), false,
  'the verification behind it says false, never NULL');

SELECT * FROM finish();
