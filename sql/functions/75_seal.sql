-- Seals (security model §2): settings can be set by any SQL user, so whatever authdb keeps in them
-- carries an HMAC-SHA256 under the installation's secret. The identity's seal is also bound to this
-- backend: a value forged, edited, or copied from another backend does not carry a valid seal.

-- What identifies this backend among all that ever ran on this server: its pid and its start time.
-- backend_start is visible when the schema owner may see this session's statistics (superuser,
-- pg_read_all_stats, or the same role); otherwise the client port and the server's start time
-- narrow pid reuse instead.
CREATE OR REPLACE FUNCTION auth._backend_binding()
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_backend_start text;
BEGIN
  SELECT s.backend_start::text INTO v_backend_start FROM pg_stat_get_activity(pg_backend_pid()) AS s;
  RETURN pg_backend_pid()::text || '/'
      || coalesce(v_backend_start, pg_postmaster_start_time()::text || '/' || coalesce(inet_client_port(), 0)::text);
END
$$;

-- HMAC-SHA256 (RFC 2104) of a labelled message under the installation's secret. plpgsql, so
-- that the secret's lookup is planned once per backend.
CREATE OR REPLACE FUNCTION auth._seal(p_label text, p_message text)
RETURNS bytea
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_secret auth.seal_secret;
BEGIN
  SELECT * INTO STRICT v_secret FROM auth.seal_secret;
  RETURN auth._hmac('sha256', v_secret.ipad_key, v_secret.opad_key, convert_to(p_label || chr(10) || p_message, 'UTF8'));
END
$$;

-- Whether a seal written as hex text is the seal of this message: compared as digests (see
-- auth._constant_time_equal), and without decoding text that may not be hex at all.
CREATE OR REPLACE FUNCTION auth._seal_matches(p_seal_hex text, p_label text, p_message text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
  SELECT sha256(convert_to(encode(auth._seal(p_label, p_message), 'hex'), 'UTF8')) = sha256(convert_to(p_seal_hex, 'UTF8'))
$$;

-- The verified-token cache: a token already verified in this backend costs a hash and a seal check,
-- not a signature check (design, performance model). An entry is sealed, so SQL cannot forge one;
-- it is not bound to the backend, because it only vouches for a token that did verify: using an
-- entry takes presenting that very token, which would verify anyway. Sixteen direct-mapped slots in session
-- settings `authdb.vcache_<n>`, each `<sha256 of token, hex>|<seal, hex>|<key id>|<claims>`.
-- Claims are re-validated on every hit (exp, audiences, …), and the key's status is re-read, so a
-- revocation takes effect at once.

CREATE OR REPLACE FUNCTION auth._vcache_slot(p_digest bytea)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT 'authdb.vcache_' || (get_byte(p_digest, 0) % 16)::text
$$;

CREATE OR REPLACE FUNCTION auth._vcache_get(p_digest bytea, OUT key_id bigint, OUT claims jsonb)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_hex   text := encode(p_digest, 'hex');
  v_entry text := current_setting(auth._vcache_slot(p_digest), true);
  v_key   text;
  v_rest  text;
BEGIN
  -- fixed-width fields first (digest, seal), so no pattern matching over the claims is needed
  IF v_entry IS NULL OR left(v_entry, 65) <> v_hex || '|' THEN
    RETURN;
  END IF;
  v_rest := substr(v_entry, 131);
  v_key := split_part(v_rest, '|', 1);
  v_rest := substr(v_rest, length(v_key) + 2);
  IF NOT auth._seal_matches(substr(v_entry, 66, 64), 'vcache', v_hex || '|' || v_key || '|' || v_rest) THEN
    RETURN;  -- not sealed by us: a miss, verified from scratch
  END IF;
  key_id := v_key::bigint;
  claims := v_rest::jsonb;
END
$$;

CREATE OR REPLACE FUNCTION auth._vcache_put(p_digest bytea, p_key_id bigint, p_claims jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_hex     text := encode(p_digest, 'hex');
  v_rest    text := p_key_id::text || '|' || p_claims::text;
BEGIN
  PERFORM set_config(auth._vcache_slot(p_digest),
                     v_hex || '|' || encode(auth._seal('vcache', v_hex || '|' || v_rest), 'hex') || '|' || v_rest,
                     false);
END
$$;
