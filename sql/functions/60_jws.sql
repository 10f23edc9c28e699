-- Compact JWS parsing (RFC 7515 §7.1, §5.2), strict, before any cryptography:
-- a size cap first, exactly three canonical base64url parts, header and payload JSON objects
-- without duplicate members, `crit` and `b64` refused, `alg` known and never "none".

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
  -- Security model §5: tokens over 16 KiB are refused before anything is decoded.
  c_max_octets CONSTANT int := 16384;
  v_parts      text[];
  v_header     bytea;
  v_payload    bytea;
  v_header_js  json;
  v_claims_js  json;
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
    v_header_js := convert_from(v_header, 'UTF8')::json;
    v_claims_js := convert_from(v_payload, 'UTF8')::json;
    header := v_header_js::jsonb;
    claims := v_claims_js::jsonb;
  EXCEPTION WHEN character_not_in_repertoire OR invalid_text_representation OR untranslatable_character
                 OR invalid_parameter_value OR program_limit_exceeded THEN
    PERFORM auth._reject('malformed', 'the header or payload is not UTF-8 JSON');
  END;
  IF json_typeof(v_header_js) <> 'object' OR json_typeof(v_claims_js) <> 'object' THEN
    PERFORM auth._reject('malformed', 'the header and the payload must be JSON objects');
  END IF;
  IF auth._json_has_duplicate_members(v_header_js) THEN
    PERFORM auth._reject('malformed', 'the header has a duplicate member');
  END IF;
  IF auth._json_has_duplicate_members(v_claims_js) THEN
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
