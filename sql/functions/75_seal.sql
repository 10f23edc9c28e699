-- Seals (docs/security.md §2, §11): settings can be set by any SQL user, so whatever authdb keeps
-- in them carries an HMAC-SHA256 under the installation's secret (auth.seal_secret, readable by
-- the schema owner only). What a seal covers is written with formatting-independent values only
-- (integers, and epoch seconds as numeric), so TimeZone, DateStyle, IntervalStyle or a function's
-- SET clause never change it.

-- HMAC-SHA256 (RFC 2104) of a labelled message under the installation's secret, written as
-- `<generation>:<hex>`: the generation tells a seal made before a rotation from a forged one.
-- plpgsql, so that the secret's lookup is planned once per backend.
CREATE OR REPLACE FUNCTION auth._seal(p_label text, p_message text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_secret auth.seal_secret;
BEGIN
  SELECT * INTO v_secret FROM auth.seal_secret;
  IF NOT FOUND THEN
    -- fail closed: without a secret nothing can be sealed or verified
    RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = 'authdb has no sealing secret',
      HINT = 'Run authdb seal rotate (SELECT auth.rotate_seal_secret() as the schema owner).';
  END IF;
  RETURN v_secret.generation::text || ':'
      || encode(auth._hmac('sha256', v_secret.ipad_key, v_secret.opad_key, convert_to(p_label || chr(10) || p_message, 'UTF8')), 'hex');
END
$$;

-- Whether a seal as stored is the seal of this message under the current secret: compared as
-- digests (see auth._constant_time_equal), and without decoding text that may not be hex at all.
CREATE OR REPLACE FUNCTION auth._seal_matches(p_seal text, p_label text, p_message text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
  SELECT sha256(convert_to(auth._seal(p_label, p_message), 'UTF8')) = sha256(convert_to(p_seal, 'UTF8'))
$$;

-- Whether a seal that did not match names an earlier generation of the secret: it was made before
-- a rotation, and what it sealed simply no longer counts. Called only after a mismatch.
CREATE OR REPLACE FUNCTION auth._seal_is_stale(p_seal text)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_generation text := split_part(p_seal, ':', 1);
BEGIN
  RETURN v_generation ~ '^[0-9]{1,18}$'
     AND v_generation::bigint < (SELECT s.generation FROM auth.seal_secret AS s);
END
$$;

-- When this backend started, as epoch seconds; NULL when the schema owner may not see it
-- (pg_stat_activity shows it to superusers, members of pg_read_all_stats, and roles with the
-- privileges of the session's login). With the pid it names this backend among all that ever ran
-- on the server: unlike the client port or the server's start time, another backend that later
-- gets the same pid cannot reproduce it.
CREATE OR REPLACE FUNCTION auth._backend_start()
RETURNS numeric
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_start numeric;
BEGIN
  SELECT extract(epoch FROM s.backend_start) INTO v_start FROM pg_stat_get_activity(pg_backend_pid()) AS s;
  RETURN v_start;
END
$$;

-- auth.rotate_seal_secret(): a new sealing secret (owner only: not executable by PUBLIC, and it
-- writes auth.seal_secret). Every identity and verified-token cache entry sealed before stops
-- counting at once, in every backend: an identity reads as none (SQL NULL), a cache entry as a
-- miss. Rotate after a dump, backup, clone or branch of the database left your hands
-- (docs/security.md §11). The secret is built as migration 0001 builds it: 4 × 122 bits of
-- gen_random_uuid() (pg_strong_random), hashed to 32 bytes, stored as HMAC's padded keys.
CREATE OR REPLACE FUNCTION auth.rotate_seal_secret()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_pads record := auth._hmac_padded_keys('sha256', sha256(convert_to(
      gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));
BEGIN
  INSERT INTO auth.seal_secret AS s (ipad_key, opad_key)
  VALUES (v_pads.ipad_key, v_pads.opad_key)
  ON CONFLICT (singleton) DO UPDATE
     SET ipad_key = excluded.ipad_key
       , opad_key = excluded.opad_key
       , generation = s.generation + 1
       , created_at = now();
END
$$;

-- The verified-token cache: a token already verified in this backend costs a hash and a seal check,
-- not a signature check (design, performance model). Sixteen direct-mapped slots, kept in
-- one session setting, `authdb.vcache`: the entries joined by ';', slot n (the digest's first octet
-- mod 16) at position n + 1, each `<sha256 of token, hex>|<seal>|<key id>|<valid until>|<epoch>`
-- or empty. One setting, not one per slot: PostgreSQL 15 and older sort the whole list of settings
-- each time a backend sets a name it has not seen (about 700,000 instructions, 0.3 ms), which a
-- setting per slot paid for each of a young backend's first sixteen tokens (docs/performance.md).
--
-- An entry holds nothing personal (docs/security.md §10): later SQL on the connection can read
-- the settings, so the claims are not kept; a hit decodes them again from the presented token,
-- whose bytes are those that verified. The seal covers the digest, the key, the moment the token
-- stops being valid, the provider's epoch and this server (pid and server start), under the
-- current secret: an entry cannot be forged without the secret, and a rotation empties the cache.
-- Unlike a session identity
-- (80_identity.sql), an entry is not bound to the backend's start: what it states, "these bytes
-- verified with key K", holds in any backend, so carrying it to a later backend that got the same
-- pid gains nothing — and reading the backend's start costs a pg_stat_get_activity snapshot per
-- transaction (docs/performance.md). On a hit the key's status, the provider's allow-list and the
-- sealed moment of expiry are checked again; the claims and the revocations only when the
-- provider's epoch moved since the entry was sealed (a revocation was written or a setting changed:
-- 72_verify.sql), so key revocation, revocation, changed settings and expiry are immediate.

-- The slot of a token's digest, as its position in `authdb.vcache`: 1 to 16.
CREATE OR REPLACE FUNCTION auth._vcache_position(p_digest bytea)
RETURNS int
LANGUAGE sql IMMUTABLE
AS $$
  SELECT get_byte(p_digest, 0) % 16 + 1
$$;

-- What a cache entry's seal covers besides the entry itself.
CREATE OR REPLACE FUNCTION auth._vcache_binding()
RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT pg_backend_pid()::text || '|' || extract(epoch FROM pg_postmaster_start_time())::text
$$;

-- The id of the key that verified this token in this backend, the provider's epoch when it was
-- last checked (its settings and revocations: docs/revocation.md), and the moment it stops being
-- valid (exp or the provider's maximum token age, with the leeway; NULL: neither applies); or NULLs
-- (a miss). An entry is `digest|seal|key id|valid until|epoch`; the seal covers all four and the
-- server (auth._vcache_binding).
CREATE OR REPLACE FUNCTION auth._vcache_entry(p_digest bytea, OUT key_id bigint, OUT valid_until numeric, OUT epoch bigint)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_hex   text := encode(p_digest, 'hex');
  v_entry text := split_part(current_setting('authdb.vcache', true), ';', auth._vcache_position(p_digest));
BEGIN
  IF v_entry IS NULL OR left(v_entry, 65) <> v_hex || '|' THEN  -- NULL: no cache in this backend yet
    RETURN;
  END IF;
  IF auth._seal_matches(split_part(v_entry, '|', 2), 'vcache',
       v_hex || '|' || split_part(v_entry, '|', 3) || '|' || split_part(v_entry, '|', 4) || '|' || split_part(v_entry, '|', 5)
       || '|' || auth._vcache_binding()) IS NOT TRUE THEN
    RETURN;  -- not sealed by us, here, under the current secret: a miss, verified from scratch
  END IF;
  key_id := split_part(v_entry, '|', 3)::bigint;
  valid_until := nullif(split_part(v_entry, '|', 4), '')::numeric;
  epoch := split_part(v_entry, '|', 5)::bigint;
END
$$;

CREATE OR REPLACE FUNCTION auth._vcache_put(p_digest bytea, p_key_id bigint, p_valid_until numeric, p_epoch bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_hex   text := encode(p_digest, 'hex');
  v_entry text := p_key_id::text || '|' || coalesce(p_valid_until::text, '') || '|' || p_epoch::text;
  -- the sixteen slots as they are (whatever else the setting holds is dropped), this one replaced
  v_slots text[] := (string_to_array(coalesce(current_setting('authdb.vcache', true), ''), ';')
                     || array_fill(''::text, ARRAY[16]))[1:16];
BEGIN
  v_slots[auth._vcache_position(p_digest)] :=
    v_hex || '|' || auth._seal('vcache', v_hex || '|' || v_entry || '|' || auth._vcache_binding()) || '|' || v_entry;
  PERFORM set_config('authdb.vcache', array_to_string(v_slots, ';'), false);
END
$$;
