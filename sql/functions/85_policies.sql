-- Row-level security policy templates (docs/rls.md).
--
-- Admin functions: SECURITY INVOKER and not executable by PUBLIC (99_privileges.sql grants them to
-- nobody), so only the owner of the auth schema calls them, or a table owner it granted EXECUTE
-- to. Running as the caller, they can only change tables the caller owns.
--
-- Each template:
--   * enables row-level security on the table;
--   * drops and re-creates its own policies (names start with `authdb_`), so calling it again is
--     a no-op, and calling it with other arguments replaces what it made before;
--   * compares with the identity through a sub-select, `(select auth.user_id())`, which Postgres
--     evaluates once per statement (an InitPlan), not once per row;
--   * grants the table privileges its permissive policies are meant for (a policy never gives
--     access by itself: the role needs the privilege, RLS then filters the rows);
--   * returns the SQL it ran; with p_execute => false it only returns that SQL.
-- Table names arrive as regclass and are printed by Postgres itself (schema-qualified, quoted
-- where needed); column, claim and policy names go through format('%I') / format('%L').
--
-- The templates build their statements from the helpers below (the owner's write policies, one
-- helper that policy_owner and policy_public_read share). What still repeats from template to
-- template is the shape of a public function: the signature, the SET clause, the prologue and the
-- run. Each template is a documented function of its own (docs/rls.md), so that shape stays.

-- The type of a table's column; raises 42703 when the table has no such column.
CREATE OR REPLACE FUNCTION auth._policy_column_type(p_table regclass, p_column name)
RETURNS regtype
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_type regtype;
BEGIN
  SELECT a.atttypid::regtype INTO v_type
    FROM pg_catalog.pg_attribute AS a
   WHERE a.attrelid = p_table AND a.attname = p_column AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '42703', MESSAGE = format('column %I of %s does not exist', p_column, p_table);
  END IF;
  RETURN v_type;
END
$$;

-- The once-per-statement expression for "the caller's identity", typed like the owner column.
CREATE OR REPLACE FUNCTION auth._policy_identity_expr(p_table regclass, p_column name)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_type regtype := auth._policy_column_type(p_table, p_column);
BEGIN
  IF v_type = 'uuid'::regtype THEN
    RETURN '(select auth.uid())';
  ELSIF v_type IN ('text'::regtype, 'character varying'::regtype) THEN
    RETURN '(select auth.user_id())';
  END IF;
  RAISE EXCEPTION USING ERRCODE = '22023',
    MESSAGE = format('owner column %I of %s has type %s', p_column, p_table, v_type),
    HINT = 'an owner column holds the token''s sub: use text (any sub) or uuid (sub is a uuid)';
END
$$;

-- The once-per-statement expression for a claim's value as the column holds it. A text column is
-- compared with the claim behind the provider's subject prefix (design: subjects across providers),
-- so a tenant of one provider is never a tenant of another; a typed column only matches claims of a
-- provider with bare subjects (a prefixed value is not a uuid or a number). A claim that does not
-- cast raises an error (the statement fails: no row is shown or written).
CREATE OR REPLACE FUNCTION auth._policy_claim_expr(p_table regclass, p_column name, p_claim text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_type regtype := auth._policy_column_type(p_table, p_column);
BEGIN
  IF p_claim IS NULL OR p_claim = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the claim name must not be empty';
  END IF;
  IF v_type IN ('text'::regtype, 'character varying'::regtype) THEN
    RETURN format('(select auth.subject_prefix() || (auth.session() ->> %L))', p_claim);
  END IF;
  RETURN format('(select (auth.session() ->> %L)::%s where auth.subject_prefix() = %L)', p_claim, pg_catalog.format_type(v_type, NULL), '');
END
$$;

-- Checks the target and returns the statements every template starts with.
CREATE OR REPLACE FUNCTION auth._policy_prologue(p_table regclass)
RETURNS text[]
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF p_table IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'the table must not be NULL';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = p_table AND relkind IN ('r', 'p')) THEN
    RAISE EXCEPTION USING ERRCODE = '42809', MESSAGE = format('%s is not a table', p_table),
      HINT = 'row-level security applies to tables and partitioned tables';
  END IF;
  RETURN ARRAY[format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table)];
END
$$;

-- DROP POLICY IF EXISTS + CREATE POLICY for one command.
CREATE OR REPLACE FUNCTION auth._policy_statements(
    p_table   regclass
  , p_name    text
  , p_as      text
  , p_command text
  , p_roles   text
  , p_using   text
  , p_check   text
)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
  SELECT ARRAY[
      format('DROP POLICY IF EXISTS %I ON %s', p_name, p_table)
    , format('CREATE POLICY %I ON %s AS %s FOR %s TO %s', p_name, p_table, upper(p_as), upper(p_command), p_roles)
        || CASE WHEN p_using IS NULL THEN '' ELSE format(' USING (%s)', p_using) END
        || CASE WHEN p_check IS NULL THEN '' ELSE format(' WITH CHECK (%s)', p_check) END
  ]
$$;

-- GRANT the privileges, plus USAGE on the sequences of serial columns when INSERT is granted.
CREATE OR REPLACE FUNCTION auth._policy_grants(p_table regclass, p_privileges text[], p_roles text)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
  SELECT ARRAY[format('GRANT %s ON %s TO %s', array_to_string(p_privileges, ', '), p_table, p_roles)]
      || coalesce((
           SELECT array_agg(format('GRANT USAGE ON SEQUENCE %s TO %s', s.seq, p_roles) ORDER BY s.seq)
             FROM (SELECT pg_catalog.pg_get_serial_sequence(p_table::text, a.attname) AS seq
                     FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped) AS s
            WHERE s.seq IS NOT NULL AND 'INSERT' = ANY (p_privileges)), '{}')
$$;

-- Runs the statements (unless p_execute is false) and returns them as one script.
CREATE OR REPLACE FUNCTION auth._policy_run(p_statements text[], p_execute boolean)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_sql text;
BEGIN
  IF coalesce(p_execute, true) THEN
    FOREACH v_sql IN ARRAY p_statements LOOP
      EXECUTE v_sql;
    END LOOP;
  END IF;
  RETURN array_to_string(p_statements, E';\n') || E';\n';
END
$$;

-- The owner's write policies, shared by policy_owner and policy_public_read: authenticated users
-- insert, update and delete only rows for which p_is_owner holds (WITH CHECK on the new row, so a
-- row cannot be written for someone else or moved into someone else's ownership).
CREATE OR REPLACE FUNCTION auth._policy_owner_writes(p_table regclass, p_is_owner text)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
  SELECT auth._policy_statements(p_table, 'authdb_owner_insert', 'permissive', 'insert', 'authenticated', NULL, p_is_owner)
      || auth._policy_statements(p_table, 'authdb_owner_update', 'permissive', 'update', 'authenticated', p_is_owner, p_is_owner)
      || auth._policy_statements(p_table, 'authdb_owner_delete', 'permissive', 'delete', 'authenticated', p_is_owner, NULL)
$$;

CREATE OR REPLACE FUNCTION auth._policy_mode(p_as text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
  IF lower(p_as) IN ('permissive', 'restrictive') THEN
    RETURN lower(p_as);
  END IF;
  RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('p_as must be ''permissive'' or ''restrictive'', not %L', p_as);
END
$$;

-- auth.policy_owner(table, column default 'user_id', execute default true)
-- Owner-only rows: authenticated users see, insert, update and delete only rows whose owner
-- column holds auth.user_id() (their `sub`, behind their provider's subject prefix); WITH CHECK
-- stops them inserting rows for someone else or moving a row into someone else's ownership.
CREATE OR REPLACE FUNCTION auth.policy_owner(
    p_table   regclass
  , p_column  name    DEFAULT 'user_id'
  , p_execute boolean DEFAULT true
)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_statements text[] := auth._policy_prologue(p_table);
  v_is_owner   text := format('%I = %s', p_column, auth._policy_identity_expr(p_table, p_column));
BEGIN
  v_statements := v_statements
    || auth._policy_statements(p_table, 'authdb_owner_select', 'permissive', 'select', 'authenticated', v_is_owner, NULL)
    || auth._policy_owner_writes(p_table, v_is_owner)
    || auth._policy_grants(p_table, ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'authenticated');
  RETURN auth._policy_run(v_statements, p_execute);
END
$$;

-- auth.policy_tenant(table, column default 'tenant_id', claim default 'tenant_id', as default
-- 'permissive', execute default true)
-- Tenant isolation: rows whose column equals the token's claim. 'permissive' gives authenticated
-- users every row of their tenant; 'restrictive' only narrows other policies (e.g. owner rows
-- *and* same tenant) and grants nothing.
CREATE OR REPLACE FUNCTION auth.policy_tenant(
    p_table   regclass
  , p_column  name    DEFAULT 'tenant_id'
  , p_claim   text    DEFAULT 'tenant_id'
  , p_as      text    DEFAULT 'permissive'
  , p_execute boolean DEFAULT true
)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_mode       text := auth._policy_mode(p_as);
  v_statements text[] := auth._policy_prologue(p_table);
  v_same       text := format('%I = %s', p_column, auth._policy_claim_expr(p_table, p_column, p_claim));
BEGIN
  v_statements := v_statements
    || auth._policy_statements(p_table, 'authdb_tenant_select', v_mode, 'select', 'authenticated', v_same, NULL)
    || auth._policy_statements(p_table, 'authdb_tenant_insert', v_mode, 'insert', 'authenticated', NULL, v_same)
    || auth._policy_statements(p_table, 'authdb_tenant_update', v_mode, 'update', 'authenticated', v_same, v_same)
    || auth._policy_statements(p_table, 'authdb_tenant_delete', v_mode, 'delete', 'authenticated', v_same, NULL);
  IF v_mode = 'permissive' THEN
    v_statements := v_statements || auth._policy_grants(p_table, ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'authenticated');
  END IF;
  RETURN auth._policy_run(v_statements, p_execute);
END
$$;

-- auth.policy_claim(table, claim, value, commands default all four, as default 'permissive',
-- execute default true)
-- Role or permission claims: the rows are open to authenticated users whose claim is `value`, or
-- a JSON array that contains `value` (e.g. "roles": ["admin"]), behind the provider's subject
-- prefix (auth.has_claim): for provider `b` (prefix `b:`), "roles": ["admin"] matches 'b:admin'.
-- 'restrictive' makes the claim a requirement on top of other policies.
CREATE OR REPLACE FUNCTION auth.policy_claim(
    p_table    regclass
  , p_claim    text
  , p_value    text
  , p_commands text[]  DEFAULT ARRAY['select', 'insert', 'update', 'delete']
  , p_as       text    DEFAULT 'permissive'
  , p_execute  boolean DEFAULT true
)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_mode       text := auth._policy_mode(p_as);
  v_statements text[] := auth._policy_prologue(p_table);
  v_has        text;
  v_base       text;
  v_command    text;
  v_privileges text[] := '{}';
BEGIN
  IF p_claim IS NULL OR p_claim = '' OR p_value IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the claim name and value must be given';
  END IF;
  IF p_commands IS NULL OR cardinality(p_commands) = 0
     OR EXISTS (SELECT 1 FROM unnest(p_commands) AS c WHERE lower(c) NOT IN ('select', 'insert', 'update', 'delete')) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'p_commands must list some of select, insert, update, delete';
  END IF;
  v_has := format('(select auth.has_claim(%L, %L))', p_claim, p_value);
  -- one name per (claim, value), short enough for the 63-byte identifier limit
  v_base := 'authdb_claim_' || left(regexp_replace(lower(p_claim || '_' || p_value), '[^a-z0-9_]+', '_', 'g'), 28)
            || '_' || left(md5(length(p_claim) || ':' || p_claim || p_value), 6);
  FOREACH v_command IN ARRAY ARRAY['select', 'insert', 'update', 'delete'] LOOP
    -- re-running with fewer commands removes the policies of the others
    v_statements := v_statements || format('DROP POLICY IF EXISTS %I ON %s', v_base || '_' || v_command, p_table);
    CONTINUE WHEN NOT v_command = ANY (SELECT lower(c) FROM unnest(p_commands) AS c);
    v_statements := v_statements || auth._policy_statements(p_table, v_base || '_' || v_command, v_mode, v_command, 'authenticated'
      , CASE WHEN v_command <> 'insert' THEN v_has END
      , CASE WHEN v_command IN ('insert', 'update') THEN v_has END);
    v_privileges := v_privileges || upper(v_command);
  END LOOP;
  IF v_mode = 'permissive' THEN
    v_statements := v_statements || auth._policy_grants(p_table, v_privileges, 'authenticated');
  END IF;
  RETURN auth._policy_run(v_statements, p_execute);
END
$$;

-- auth.policy_public_read(table, column default 'user_id', execute default true)
-- Public read, owner write: everyone (authenticated and anonymous) reads every row; authenticated
-- users insert, update and delete only their own rows (the owner policies of policy_owner).
CREATE OR REPLACE FUNCTION auth.policy_public_read(
    p_table   regclass
  , p_column  name    DEFAULT 'user_id'
  , p_execute boolean DEFAULT true
)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_statements text[] := auth._policy_prologue(p_table);
  v_is_owner   text := format('%I = %s', p_column, auth._policy_identity_expr(p_table, p_column));
BEGIN
  v_statements := v_statements
    || auth._policy_statements(p_table, 'authdb_public_read', 'permissive', 'select', 'authenticated, anonymous', 'true', NULL)
    || auth._policy_owner_writes(p_table, v_is_owner)
    || auth._policy_grants(p_table, ARRAY['SELECT'], 'authenticated, anonymous')
    || auth._policy_grants(p_table, ARRAY['INSERT', 'UPDATE', 'DELETE'], 'authenticated');
  RETURN auth._policy_run(v_statements, p_execute);
END
$$;
