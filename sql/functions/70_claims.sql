-- Claim validation (RFC 7519 §4.1), run only after the signature verified (docs/security.md §5):
-- exp required by default, nbf and iat honoured, all with the provider's leeway; iss equal to the
-- provider's issuer; aud (string or array) containing one of the provider's audiences, when it has
-- any; sub a non-empty string. Returns the moment the identity stops being valid (exp + leeway,
-- seconds since the epoch), NULL when the token has no exp.

-- A NumericDate (RFC 7519 §2) claim: a JSON number of seconds since 1970-01-01T00:00:00Z, at
-- most 253402300799 (9999-12-31T23:59:59Z, the last second a timestamp can show), or the claim is
-- invalid. Without the bound, "exp": 1e400 would be a token that never expires, and "nbf": -1e400
-- one valid since forever.
CREATE OR REPLACE FUNCTION auth._numeric_date(p_claims jsonb, p_name text)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  v_value numeric;
BEGIN
  IF NOT p_claims ? p_name THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(p_claims -> p_name) <> 'number' THEN
    PERFORM auth._reject('invalid_claim', format('"%s" is not a number', p_name));
  END IF;
  v_value := (p_claims -> p_name)::numeric;
  IF v_value < 0 OR v_value > 253402300799 THEN
    PERFORM auth._reject('invalid_claim', format('"%s" is not a date between 1970 and 9999', p_name));
  END IF;
  RETURN v_value;
END
$$;

CREATE OR REPLACE FUNCTION auth._validate_claims(p_provider auth.providers, p_claims jsonb)
RETURNS numeric
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_now    numeric := extract(epoch FROM clock_timestamp());
  v_leeway int := p_provider.leeway_seconds;
  v_exp    numeric := auth._numeric_date(p_claims, 'exp');
  v_nbf    numeric := auth._numeric_date(p_claims, 'nbf');
  v_iat    numeric := auth._numeric_date(p_claims, 'iat');
  v_aud    jsonb := p_claims -> 'aud';
BEGIN
  IF v_exp IS NULL AND p_provider.require_exp THEN
    PERFORM auth._reject('missing_claim', '"exp" is required');
  END IF;
  IF v_exp IS NOT NULL AND v_now > v_exp + v_leeway THEN
    PERFORM auth._reject('expired', format('"exp" passed %s seconds ago', trunc(v_now - v_exp)));
  END IF;
  IF v_nbf IS NOT NULL AND v_now + v_leeway < v_nbf THEN
    PERFORM auth._reject('not_yet_valid', format('"nbf" is %s seconds ahead', trunc(v_nbf - v_now)));
  END IF;
  IF v_iat IS NOT NULL AND v_now + v_leeway < v_iat THEN
    PERFORM auth._reject('issued_in_future', format('"iat" is %s seconds ahead', trunc(v_iat - v_now)));
  END IF;
  IF p_claims -> 'iss' IS DISTINCT FROM to_jsonb(p_provider.issuer) THEN
    PERFORM auth._reject('issuer_mismatch', format('"iss" is not the issuer of provider %s', p_provider.name));
  END IF;
  -- RFC 7519 §4.1.3: "aud" is a string or an array of strings, whether or not it is checked
  IF v_aud IS NOT NULL
     AND NOT (CASE jsonb_typeof(v_aud)
                WHEN 'string' THEN true
                WHEN 'array'  THEN NOT jsonb_path_exists(v_aud, 'strict $[*] ? (@.type() != "string")')
                ELSE false
              END) THEN
    PERFORM auth._reject('invalid_claim', '"aud" must be a string or an array of strings');
  END IF;
  IF cardinality(p_provider.audiences) > 0 THEN
    IF v_aud IS NULL THEN
      PERFORM auth._reject('missing_claim', format('"aud" is required by provider %s', p_provider.name));
    END IF;
    -- `?|` on a string matches that string, on an array any of its string elements (RFC 7519 §4.1.3)
    IF NOT (CASE WHEN jsonb_typeof(v_aud) = 'string' THEN v_aud #>> '{}' = ANY (p_provider.audiences)
                 ELSE v_aud ?| p_provider.audiences END) THEN
      PERFORM auth._reject('audience_mismatch', format('"aud" names none of the audiences of provider %s', p_provider.name));
    END IF;
  END IF;
  IF NOT p_claims ? 'sub' THEN
    PERFORM auth._reject('missing_claim', '"sub" is required');
  END IF;
  IF jsonb_typeof(p_claims -> 'sub') <> 'string' OR p_claims ->> 'sub' = '' THEN
    PERFORM auth._reject('invalid_claim', '"sub" must be a non-empty string');
  END IF;
  RETURN v_exp + v_leeway;
END
$$;
