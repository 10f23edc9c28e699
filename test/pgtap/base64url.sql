-- base64url (RFC 4648 §5) as tokens use it: auth._b64url_try_decode accepts only the canonical
-- unpadded encoding (RFC 4648 §3.5, RFC 7515 §2), auth._b64url_decode raises on the rest,
-- auth._b64url_encode writes it (00_util.sql).
\ir _setup.sql
SELECT plan(36);

-- RFC 4648 §10 test vectors, padding removed as RFC 7515 §2 requires.
SELECT is(auth._b64url_try_decode(''),       ''::bytea,         'RFC 4648 §10: "" decodes to nothing');
SELECT is(auth._b64url_try_decode('Zg'),     '\x66'::bytea,     'RFC 4648 §10: Zg decodes to "f"');
SELECT is(auth._b64url_try_decode('Zm8'),    '\x666f'::bytea,   'RFC 4648 §10: Zm8 decodes to "fo"');
SELECT is(auth._b64url_try_decode('Zm9v'),   '\x666f6f'::bytea, 'RFC 4648 §10: Zm9v decodes to "foo"');
SELECT is(auth._b64url_try_decode('Zm9vYg'), convert_to('foob', 'UTF8'),   'RFC 4648 §10: Zm9vYg decodes to "foob"');
SELECT is(auth._b64url_try_decode('Zm9vYmE'), convert_to('fooba', 'UTF8'), 'RFC 4648 §10: Zm9vYmE decodes to "fooba"');
SELECT is(auth._b64url_try_decode('Zm9vYmFy'), convert_to('foobar', 'UTF8'), 'RFC 4648 §10: Zm9vYmFy decodes to "foobar"');
SELECT is(auth._b64url_encode(convert_to('f', 'UTF8')),      'Zg',       'encode "f" without padding');
SELECT is(auth._b64url_encode(convert_to('fo', 'UTF8')),     'Zm8',      'encode "fo" without padding');
SELECT is(auth._b64url_encode(convert_to('foobar', 'UTF8')), 'Zm9vYmFy', 'encode "foobar"');

-- The URL-safe alphabet (RFC 4648 §5, table 2): '-' is 62 and '_' is 63, where base64 has '+' and '/'.
SELECT is(auth._b64url_try_decode('-_-_'), '\xfbffbf'::bytea, '"-" and "_" are the values 62 and 63');
SELECT is(auth._b64url_encode('\xfbffbf'::bytea), '-_-_', 'encoding writes "-" and "_"');
SELECT is(auth._b64url_try_decode('+/+/'), NULL, 'base64''s "+" and "/" are not base64url');

-- Padding (RFC 7515 §2: "with all trailing '=' characters omitted").
SELECT is(auth._b64url_try_decode('Zg=='), NULL, 'padded "Zg==" is refused');
SELECT is(auth._b64url_try_decode('Zm8='), NULL, 'padded "Zm8=" is refused');
SELECT is(auth._b64url_try_decode('Zm9v===='), NULL, 'a whole block of padding is refused');

-- Lengths: 4k+1 characters cannot encode whole octets.
SELECT is(auth._b64url_try_decode('Z'),     NULL, 'one character is no octet');
SELECT is(auth._b64url_try_decode('Zm9vY'), NULL, 'length ≡ 1 (mod 4) is refused');

-- RFC 4648 §3.5: the unused low bits of the last character must be zero, else two texts decode to
-- the same octets and a signature no longer covers one spelling of the token.
SELECT is(auth._b64url_try_decode('Zh'),  NULL, 'RFC 4648 §3.5: "Zh" has nonzero pad bits (4 unused bits)');
SELECT is(auth._b64url_try_decode('Zm9'), NULL, 'RFC 4648 §3.5: "Zm9" has nonzero pad bits (2 unused bits)');
SELECT is(auth._b64url_try_decode('Zm_'), NULL, 'RFC 4648 §3.5: "_" (63) as the third of three characters');
SELECT is(auth._b64url_try_decode('Zw'),  '\x67'::bytea, '"Zw" is canonical (low 4 bits of w are zero)');

-- Characters outside the alphabet anywhere in the text.
SELECT is(auth._b64url_try_decode(E'Zm9v\n'), NULL, 'a trailing newline is refused');
SELECT is(auth._b64url_try_decode(' Zm9v'),   NULL, 'a leading space is refused');
SELECT is(auth._b64url_try_decode('Zm.9v'),   NULL, 'a dot inside is refused');
SELECT is(auth._b64url_try_decode('Zm9vé'),   NULL, 'a non-ASCII letter is refused');
SELECT is(auth._b64url_try_decode(NULL),      NULL, 'NULL stays NULL');

-- The raising variant, for keys and other caller input: SQLSTATE 22023, never a token rejection.
SELECT is(auth._b64url_decode('Zm9v'), '\x666f6f'::bytea, '_b64url_decode decodes canonical text');
SELECT throws_ok($$SELECT auth._b64url_decode('Zg==')$$, '22023', 'value is not canonical base64url',
  '_b64url_decode raises 22023 on padding');
SELECT throws_ok($$SELECT auth._b64url_decode('Zh')$$, '22023', 'value is not canonical base64url',
  '_b64url_decode raises 22023 on nonzero pad bits');
SELECT throws_ok($$SELECT auth._b64url_decode('a+b/')$$, '22023', 'value is not canonical base64url',
  '_b64url_decode raises 22023 on the base64 alphabet');

-- Encoding: base64 output breaks lines every 76 characters; base64url must not.
SELECT is(strpos(auth._b64url_encode(decode(repeat('ab', 200), 'hex')), E'\n'), 0,
  'encoding 200 octets writes one line');
SELECT is(auth._b64url_encode(''::bytea), '', 'encoding nothing gives the empty text');

-- Round trips: every length from 0 to 100 octets, every octet value.
SELECT ok(bool_and(auth._b64url_try_decode(auth._b64url_encode(v)) = v),
          'decode(encode(x)) = x for 0 to 100 octets')
  FROM (SELECT substring(sha512(i::text::bytea) || sha512((i + 1)::text::bytea) FOR i) AS v
          FROM generate_series(0, 100) AS i) AS t;
SELECT is(auth._b64url_try_decode(auth._b64url_encode(v)), v, 'decode(encode(x)) = x for the octets 0..255')
  FROM (SELECT string_agg(set_byte('\x00'::bytea, 0, i), ''::bytea ORDER BY i) AS v FROM generate_series(0, 255) AS i) AS t;
SELECT ok(bool_and(auth._b64url_encode(v) ~ '^[A-Za-z0-9_-]*$'), 'encoding uses only the base64url alphabet')
  FROM (SELECT sha384(i::text::bytea) AS v FROM generate_series(1, 50) AS i) AS t;

SELECT * FROM finish();
ROLLBACK;
