-- Seals (security model §2): settings can be set by any SQL user, so whatever authdb keeps in them
-- carries an HMAC-SHA256 under the installation's secret, bound to this backend. A value forged,
-- edited, or copied from another backend does not carry a valid seal.

-- What identifies this backend among all that ever ran on this server: its pid and its start time.
-- backend_start is visible when the schema owner may see this session's statistics (superuser,
-- pg_read_all_stats, or the same role); otherwise the client port and the server's start time
-- narrow pid reuse instead.
CREATE OR REPLACE FUNCTION auth._backend_binding()
RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT pg_backend_pid()::text || '/' || coalesce(
           (SELECT s.backend_start::text FROM pg_stat_get_activity(pg_backend_pid()) AS s),
           pg_postmaster_start_time()::text || '/' || coalesce(inet_client_port(), 0)::text)
$$;

-- HMAC-SHA256 (RFC 2104) of a labelled message bound to this backend.
CREATE OR REPLACE FUNCTION auth._seal(p_label text, p_message text)
RETURNS bytea
LANGUAGE sql STABLE
AS $$
  SELECT auth._hmac('sha256', s.ipad_key, s.opad_key,
                    convert_to(p_label || chr(10) || auth._backend_binding() || chr(10) || p_message, 'UTF8'))
    FROM auth.seal_secret AS s
$$;

-- The verified-token cache: a token already verified in this backend costs a hash and a seal check,
-- not a signature check (design, performance model). Sixteen direct-mapped slots in session
-- settings `authdb.vcache_<n>`, each `<sha256 of token, hex>|<key id>|<seal, hex>|<claims>`.
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
  v_entry text := current_setting(auth._vcache_slot(p_digest), true);
  v_hex   text := encode(p_digest, 'hex');
  v_rest  text;
  v_key   text;
  v_seal  text;
BEGIN
  IF v_entry IS NULL OR left(v_entry, 65) <> v_hex || '|' THEN
    RETURN;
  END IF;
  v_rest := substr(v_entry, 66);
  v_key := split_part(v_rest, '|', 1);
  v_seal := split_part(v_rest, '|', 2);
  v_rest := substr(v_rest, length(v_key) + length(v_seal) + 3);
  IF v_key !~ '^[0-9]{1,18}$'
     OR NOT auth._constant_time_equal(
              auth._seal('vcache', v_hex || '|' || v_key || '|' || v_rest), decode(v_seal, 'hex')) THEN
    RETURN;  -- not ours: a miss, verified from scratch
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
  v_message text := encode(p_digest, 'hex') || '|' || p_key_id::text || '|' || p_claims::text;
BEGIN
  PERFORM set_config(auth._vcache_slot(p_digest),
                     encode(p_digest, 'hex') || '|' || p_key_id::text || '|'
                       || encode(auth._seal('vcache', v_message), 'hex') || '|' || p_claims::text,
                     false);
END
$$;
