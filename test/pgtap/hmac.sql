-- Hashing and HMAC (00_util.sql): auth._hash by the names of auth.algorithms, HMAC (RFC 2104 §2)
-- split into auth._hmac_padded_keys (once per key) and auth._hmac (per token), and
-- auth._constant_time_equal for comparing MACs.
\ir _setup.sql
SELECT plan(27);

-- FIPS 180-4 examples ("abc"), one per hash.
SELECT is(auth._hash('sha256', 'abc'::bytea), '\xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'::bytea,
  'SHA-256("abc")');
SELECT is(auth._hash('sha384', 'abc'::bytea), sha384('abc'::bytea), '_hash(sha384) is SHA-384');
SELECT is(auth._hash('sha512', 'abc'::bytea), sha512('abc'::bytea), '_hash(sha512) is SHA-512');
SELECT is(auth._hash('md5', 'abc'::bytea), NULL, 'an unknown hash name gives NULL, never some other hash');

-- HMAC of a key and message by the two functions together, as verification runs it.
CREATE FUNCTION pg_temp.hmac(p_hash text, p_key bytea, p_message bytea)
RETURNS bytea
LANGUAGE sql
AS $$ SELECT auth._hmac(p_hash, k.ipad_key, k.opad_key, p_message) FROM auth._hmac_padded_keys(p_hash, p_key) AS k $$;

-- RFC 4231 §4: the test cases' keys and data (cases 1, 2, 3, 6, 7; case 4's key is
-- 0x01..0x19, case 5 truncates), with the MACs the RFC lists for them.
SELECT is(pg_temp.hmac(hash, key, data), mac, format('RFC 4231 §%s: HMAC-%s', section, upper(hash)))
  FROM (VALUES
    ('4.2', 'sha256', decode(repeat('0b', 20), 'hex'), 'Hi There'::bytea,
     '\xb0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'::bytea),
    ('4.2', 'sha384', decode(repeat('0b', 20), 'hex'), 'Hi There'::bytea,
     '\xafd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6'::bytea),
    ('4.2', 'sha512', decode(repeat('0b', 20), 'hex'), 'Hi There'::bytea,
     '\x87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854'::bytea),
    -- a key shorter than the output
    ('4.3', 'sha256', 'Jefe'::bytea, 'what do ya want for nothing?'::bytea,
     '\x5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'::bytea),
    ('4.3', 'sha512', 'Jefe'::bytea, 'what do ya want for nothing?'::bytea,
     '\x164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737'::bytea),
    ('4.4', 'sha256', decode(repeat('aa', 20), 'hex'), decode(repeat('dd', 50), 'hex'),
     '\x773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'::bytea),
    -- a key larger than the block (131 octets) is hashed first
    ('4.7', 'sha256', decode(repeat('aa', 131), 'hex'), 'Test Using Larger Than Block-Size Key - Hash Key First'::bytea,
     '\x60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'::bytea),
    ('4.7', 'sha384', decode(repeat('aa', 131), 'hex'), 'Test Using Larger Than Block-Size Key - Hash Key First'::bytea,
     '\x4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952'::bytea),
    ('4.7', 'sha512', decode(repeat('aa', 131), 'hex'), 'Test Using Larger Than Block-Size Key - Hash Key First'::bytea,
     '\x80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598'::bytea),
    ('4.8', 'sha256', decode(repeat('aa', 131), 'hex'),
     'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.'::bytea,
     '\x9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2'::bytea)
  ) AS v(section, hash, key, data, mac);

-- The padded keys (RFC 2104 §2): K' padded to the block, 64 octets for SHA-256, 128 for SHA-384/512.
SELECT is(length(ipad_key), 64, 'SHA-256 pads keys to its 64-octet block') FROM auth._hmac_padded_keys('sha256', 'k'::bytea);
SELECT is(length(ipad_key), 128, 'SHA-384 pads keys to its 128-octet block') FROM auth._hmac_padded_keys('sha384', 'k'::bytea);
SELECT is(length(opad_key), 128, 'SHA-512 pads keys to its 128-octet block') FROM auth._hmac_padded_keys('sha512', 'k'::bytea);
SELECT is(ipad_key, decode(repeat('36', 64), 'hex'), 'the empty key gives ipad = 0x36 × 64')
  FROM auth._hmac_padded_keys('sha256', ''::bytea);
SELECT is(opad_key, decode('3d' || repeat('5c', 63), 'hex'), 'opad = K'' xor 0x5c (0x61 xor 0x5c = 0x3d)')
  FROM auth._hmac_padded_keys('sha256', 'a'::bytea);
-- At the block size exactly the key is used as it is; one octet more and it is hashed first.
SELECT is(k.ipad_key, (SELECT ipad_key FROM auth._hmac_padded_keys('sha256', sha256(decode(repeat('aa', 65), 'hex')))),
  'a 65-octet SHA-256 key is replaced by its hash') FROM auth._hmac_padded_keys('sha256', decode(repeat('aa', 65), 'hex')) AS k;
SELECT is(k.ipad_key, decode(repeat('9c', 64), 'hex'), 'a 64-octet SHA-256 key is used as it is (0xaa xor 0x36 = 0x9c)')
  FROM auth._hmac_padded_keys('sha256', decode(repeat('aa', 64), 'hex')) AS k;
SELECT is(k.ipad_key, (SELECT ipad_key FROM auth._hmac_padded_keys('sha512', sha512(decode(repeat('aa', 129), 'hex')))),
  'a 129-octet SHA-512 key is replaced by its hash') FROM auth._hmac_padded_keys('sha512', decode(repeat('aa', 129), 'hex')) AS k;

-- Comparison of MACs.
SELECT ok(auth._constant_time_equal('\x0102'::bytea, '\x0102'::bytea), 'equal MACs are equal');
SELECT ok(NOT auth._constant_time_equal('\x0102'::bytea, '\x0103'::bytea), 'MACs differing in the last octet differ');
SELECT ok(NOT auth._constant_time_equal('\x0102'::bytea, '\x010200'::bytea), 'a MAC and its extension differ');
SELECT ok(NOT auth._constant_time_equal(''::bytea, ''::bytea), 'two empty MACs never match');
SELECT ok(auth._constant_time_equal(NULL, '\x01'::bytea) IS NOT TRUE, 'a missing MAC never matches');

SELECT * FROM finish();
ROLLBACK;
