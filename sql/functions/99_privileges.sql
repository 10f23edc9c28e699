-- Runs after every other function file: only the public API is executable by everyone
-- (design: "any role may call the identity functions; only the owner of the auth schema reads or
-- writes keys, providers and secrets").
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA auth FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    auth.init(text, text)
  , auth.init()
  , auth.jwt_session_init(text)
  , auth.reset()
  , auth.session()
  , auth.jwt()
  , auth.user_id()
  , auth.uid()
  , auth.issuer()
  , auth.subject_prefix()
  , auth.has_claim(text, text)
  , auth.verify(text)
  , auth.version()
TO PUBLIC;
