-- `authdb why` (docs/debugging.md): a user's identity without their token, so that the DBA can
-- ask "why can't alice see that row?" while alice's token is out of reach.
--
-- auth._impersonate(provider, claims) installs a transaction-scope identity exactly as auth.init
-- installs one from a verified token (the `authdb.identity` layout and seal of 80_identity.sql),
-- with claims the caller wrote. That is a forged identity by design, so only the owner of the auth
-- schema may make one (docs/security.md §2, §8):
--   * EXECUTE is revoked from PUBLIC (99_privileges.sql grants it to nobody);
--   * it is SECURITY INVOKER: the seal needs auth.seal_secret, which only the owner reads, so a
--     role granted EXECUTE by mistake still cannot seal anything;
--   * the identity is transaction scope (set_config(…, is_local => true), sealed to this backend
--     and this transaction's start): it ends with the transaction `authdb why` always rolls back,
--     and no other transaction or backend can replay it.
-- Nothing here reads a setting, so no value a user can set decides whose identity this is.

-- Makes `p_claims` (its `sub` a non-empty string) the identity of this transaction, as a token of
-- provider `p_provider` (NULL: the only provider) would: `iss` is the provider's issuer unless
-- given, and auth.user_id() carries the provider's subject prefix. An `exp` claim (epoch seconds)
-- ends the identity as a token's would. Returns the claims.
CREATE OR REPLACE FUNCTION auth._impersonate(p_provider text, p_claims jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_provider    auth.providers;
  v_count       int;
  v_claims      jsonb;
  v_valid_until numeric;
BEGIN
  IF NOT pg_has_role(current_user, (SELECT n.nspowner FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                                     WHERE c.oid = 'auth.providers'::regclass), 'USAGE') THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the owner of the auth schema may impersonate a user';
  END IF;
  IF p_provider IS NULL THEN
    SELECT count(*) INTO v_count FROM auth.providers;
    IF v_count <> 1 THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s providers are registered: name the one whose user this is', v_count),
        HINT = 'pass --provider NAME (authdb provider list shows them)';
    END IF;
    SELECT * INTO v_provider FROM auth.providers;
  ELSE
    SELECT * INTO v_provider FROM auth.providers AS p WHERE p.name = p_provider;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('no provider named %s', p_provider),
        HINT = 'authdb provider list shows the registered providers';
    END IF;
  END IF;
  v_claims := jsonb_build_object('iss', v_provider.issuer) || coalesce(p_claims, '{}'::jsonb);
  -- docs/security.md §5: an identity always has a non-empty string `sub`
  IF jsonb_typeof(v_claims -> 'sub') IS DISTINCT FROM 'string' OR v_claims ->> 'sub' = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the claims need a non-empty string sub';
  END IF;
  IF jsonb_typeof(v_claims -> 'exp') = 'number' THEN
    v_valid_until := (v_claims ->> 'exp')::numeric;
  END IF;
  -- key id 0: no key vouches for these claims (transaction scope never looks the key up)
  PERFORM auth._identity_set('t', auth._identity_binding('t'), v_valid_until, 0, coalesce(v_provider.subject_prefix, ''), v_claims);
  RETURN v_claims;
END
$$;
