-- Compact JWS parsing (RFC 7515 §7.1, §5.2), strict, before any cryptography:
-- a size cap first, exactly three canonical base64url parts, header and payload JSON objects
-- without duplicate members, `crit` and `b64` refused, `alg` known and never "none".
--
-- What the JSON may cost is bounded before it is converted (docs/security.md §12). Each value
-- costs a few µs across the checks below, and empty containers cost most: jsonb's input function
-- spends about 4 µs on an empty object, so 4,000 of them in a 16 KiB token cost 17 ms. So the
-- header and payload together may hold at most 256 '{' and '[' and 1024 ',' (generous upper
-- bounds on the objects, arrays and values of real tokens; the characters count inside strings
-- too), which keeps any 16 KiB token's JSON near 1 ms. Nesting is bounded at 32 levels.

CREATE OR REPLACE FUNCTION auth._jws_parse(
    p_jwt text
  , OUT header        jsonb
  , OUT claims        jsonb
  , OUT algorithm     auth.algorithms
  , OUT signing_input bytea
  , OUT signature     bytea
)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  -- docs/security.md §5: tokens over 16 KiB are refused before anything is decoded.
  c_max_octets CONSTANT int := 16384;
  c_max_open   CONSTANT int := 256;
  c_max_commas CONSTANT int := 1024;
  v_both       text;
  c_huge_number CONSTANT jsonpath :=
    -- (written so: with the small-magnitude test in parentheses the path runs 6 times slower)
    'strict $.** ? (@.type() == "number" && (@.abs() >= 1e21 || @.abs() < 1e-21 && @ != 0))';
  v_parts      text[];
  v_header     bytea;
  v_payload    bytea;
  v_header_txt text;
  v_claims_txt text;
  v_alg        text;
BEGIN
  IF octet_length(p_jwt) > c_max_octets THEN
    PERFORM auth._reject('too_large', format('the token has %s octets; the limit is %s', octet_length(p_jwt), c_max_octets));
  END IF;
  v_parts := string_to_array(p_jwt, '.');
  IF cardinality(v_parts) <> 3 THEN
    PERFORM auth._reject('malformed', 'a compact JWS has exactly three dot-separated parts');
  END IF;
  v_header := auth._b64url_try_decode(v_parts[1]);
  v_payload := auth._b64url_try_decode(v_parts[2]);
  signature := auth._b64url_try_decode(v_parts[3]);
  IF v_header IS NULL OR v_payload IS NULL OR signature IS NULL THEN
    PERFORM auth._reject('malformed', format('the %s is not canonical base64url',
      CASE WHEN v_header IS NULL THEN 'header' WHEN v_payload IS NULL THEN 'payload' ELSE 'signature' END));
  END IF;
  BEGIN
    v_header_txt := convert_from(v_header, 'UTF8');
    v_claims_txt := convert_from(v_payload, 'UTF8');
    v_both := v_header_txt || v_claims_txt;
    IF length(v_both) - length(translate(v_both, '{[', '')) > c_max_open THEN
      PERFORM auth._reject('malformed', format('the header and payload hold more than %s "{" and "["', c_max_open));
    END IF;
    IF length(v_both) - length(replace(v_both, ',', '')) > c_max_commas THEN
      PERFORM auth._reject('malformed', format('the header and payload hold more than %s ","', c_max_commas));
    END IF;
    header := v_header_txt::jsonb;
    claims := v_claims_txt::jsonb;
  EXCEPTION WHEN character_not_in_repertoire OR invalid_text_representation OR untranslatable_character
                 OR invalid_parameter_value OR program_limit_exceeded THEN
    PERFORM auth._reject('malformed', 'the header or payload is not UTF-8 JSON');
  -- a number beyond numeric's range (1e200000) and nesting beyond the parser's stack: malformed,
  -- never another SQLSTATE (every rejection is 28000)
  WHEN numeric_value_out_of_range THEN
    PERFORM auth._reject('malformed', 'the header or payload holds a number out of range');
  WHEN statement_too_complex THEN
    PERFORM auth._reject('malformed', 'the header or payload nests too deep');
  END;
  IF jsonb_typeof(header) <> 'object' OR jsonb_typeof(claims) <> 'object' THEN
    PERFORM auth._reject('malformed', 'the header and the payload must be JSON objects');
  END IF;
  -- docs/security.md §12: bounded before any walk of the trees
  IF auth._json_too_deep(header) OR auth._json_too_deep(claims) THEN
    PERFORM auth._reject('malformed', 'the header or payload nests deeper than 32 levels');
  END IF;
  -- A number written with an exponent is short in the token and long as text: "1e131000" prints
  -- 131,001 digits, so ten of them cost 50 ms wherever claims become text (the duplicate check
  -- below, the cache, auth.session()). Magnitudes from 1e-21 to 1e21 (and 0) are accepted: every
  -- 64-bit integer, every date, and what JavaScript prints without an exponent. The NumericDate
  -- claims exp, nbf and iat are left to the claim checks (`invalid_claim`, after the signature):
  -- three numbers cost little. The regular expression spares the path query to tokens without
  -- any text that could be such a number (an exponent of two digits, or 22 digits in a row; it
  -- also matches inside strings, where the query then finds nothing).
  IF (v_header_txt ~ '[eE][-+]?[0-9]{2}|[0-9]{22}' OR v_claims_txt ~ '[eE][-+]?[0-9]{2}|[0-9]{22}')
     AND (jsonb_path_exists(header, c_huge_number)
          OR jsonb_path_exists(claims - ARRAY['exp', 'nbf', 'iat'], c_huge_number)) THEN
    PERFORM auth._reject('malformed', 'the header or payload holds a number beyond 1e21 or below 1e-21');
  END IF;
  IF auth._json_has_duplicate_members(v_header_txt, header) THEN
    PERFORM auth._reject('malformed', 'the header has a duplicate member');
  END IF;
  IF auth._json_has_duplicate_members(v_claims_txt, claims) THEN
    PERFORM auth._reject('malformed', 'the payload has a duplicate member');
  END IF;
  -- RFC 7515 §4.1.11: an unknown critical extension must be refused; authdb supports none.
  IF header ? 'crit' THEN
    PERFORM auth._reject('critical_header', 'the "crit" header is not supported');
  END IF;
  -- RFC 7797 §3: "b64": false changes what is signed; only the default form is accepted.
  IF header ? 'b64' AND header -> 'b64' <> 'true'::jsonb THEN
    PERFORM auth._reject('critical_header', 'the "b64" header is not supported');
  END IF;
  IF jsonb_typeof(header -> 'alg') IS DISTINCT FROM 'string' THEN
    PERFORM auth._reject('malformed', 'the "alg" header is missing or not a string');
  END IF;
  v_alg := header ->> 'alg';
  SELECT * INTO algorithm FROM auth.algorithms AS a WHERE a.alg = v_alg;
  IF NOT FOUND THEN
    -- covers "none" in every casing (RFC 7518 §3.6 unsecured JWS): never verified
    PERFORM auth._reject('unsupported_algorithm', format('alg %s is not supported', left(v_alg, 20)));
  END IF;
  IF header ? 'kid' AND jsonb_typeof(header -> 'kid') <> 'string' THEN
    PERFORM auth._reject('malformed', 'the "kid" header is not a string');
  END IF;
  IF length(signature) = 0 THEN
    PERFORM auth._reject('malformed', 'the signature is empty');
  END IF;
  -- `jku`, `x5u`, `jwk`, `x5c` (RFC 7515 §4.1.2–4.1.6) are ignored: keys come only from the key store.
  signing_input := convert_to(v_parts[1] || '.' || v_parts[2], 'UTF8');
END
$$;
