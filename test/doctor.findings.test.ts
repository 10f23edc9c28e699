// `authdb doctor` through the built binary: a healthy installation has no finding; every kind of
// breakage is found with the right severity (leaks are problems), and each fix SQL it prints, run
// as printed, makes its finding go away.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runDoctor, withAuth, type DoctorFinding, type DoctorReport } from '../src/index.js';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { createTestDatabase, dropRoles, type TestDatabase } from './support/db.js';
import { TEST_SCHEMA } from './support/schema.js';
import { TestIssuer } from './support/tokens.js';

const P = `doc_${randomBytes(3).toString('hex')}`; // roles are cluster-wide: this file's own names
const invokerViews = inject('serverVersionNum') >= 150000;
let healthy: TestDatabase;
let broken: TestDatabase;
let empty: TestDatabase;
let brokenIssuer: TestIssuer;

async function doctor(db: TestDatabase, ...args: string[]): Promise<{ code: number | null; report: DoctorReport; stderr: string }> {
  const result = await authdb(['doctor', '--database-url', db.url, '--json', ...args]);
  return { code: result.code, report: jsonOutput<DoctorReport>(result), stderr: result.stderr };
}

function find(report: DoctorReport, code: string, subject?: string): DoctorFinding | undefined {
  return report.findings.find((f) => f.code === code && (subject === undefined || f.subject === subject));
}

beforeAll(async () => {
  [healthy, broken, empty] = await Promise.all([createTestDatabase(), createTestDatabase(), createTestDatabase({ empty: true })]);
  await (await TestIssuer.create(healthy.pool, 'idp')).addKey('HS256');
  await healthy.pool.query(`
    REVOKE TEMPORARY ON DATABASE ${healthy.name} FROM PUBLIC;
    -- login roles are cluster-wide: those of other test files (and the broken database's) may not connect here
    REVOKE CONNECT ON DATABASE ${healthy.name} FROM PUBLIC;
    CREATE TABLE notes (id serial, user_id text);
    SELECT auth.policy_owner('notes');
    SELECT auth.policy_public_read('notes');`);
  brokenIssuer = await TestIssuer.create(broken.pool, 'idp');
  await brokenIssuer.addKey('HS256');
  await broken.pool.query(`
    CREATE TABLE notes (id serial, user_id text, body text);
    INSERT INTO notes (user_id, body) VALUES ('alice', 'alice''s note'), ('bob', 'bob''s secret');
    SELECT auth.policy_owner('notes');
    CREATE TABLE locked (id int);
    ALTER TABLE locked ENABLE ROW LEVEL SECURITY;
    CREATE TABLE open_table (id int, user_id text);
    GRANT SELECT ON open_table TO anonymous;
    CREATE TABLE forgotten (id int, user_id text);
    CREATE POLICY mine ON forgotten TO authenticated USING (user_id = (select auth.user_id()));
    GRANT SELECT ON forgotten TO authenticated;
    CREATE TABLE dormant (id int);
    CREATE POLICY everyone ON dormant USING (true);
    CREATE TABLE slow (id int, user_id text);
    ALTER TABLE slow ENABLE ROW LEVEL SECURITY;
    CREATE POLICY per_row ON slow FOR SELECT TO authenticated USING (user_id = auth.user_id());
    CREATE POLICY correlated ON slow FOR UPDATE TO authenticated USING ((select auth.user_id() = user_id));
    CREATE TABLE ungranted (id int);
    ALTER TABLE ungranted ENABLE ROW LEVEL SECURITY;
    CREATE POLICY everyone ON ungranted FOR SELECT TO anonymous USING (true);
    CREATE TABLE trusting (id int, user_id text, tenant text);
    ALTER TABLE trusting ENABLE ROW LEVEL SECURITY;
    GRANT SELECT ON trusting TO authenticated;
    CREATE POLICY postgrest ON trusting TO authenticated USING (user_id = current_setting('request.jwt.claims', true)::jsonb ->> 'sub');
    CREATE POLICY tenant ON trusting AS RESTRICTIVE TO authenticated USING (tenant = current_setting('app.tenant', true));
    CREATE POLICY metadata ON trusting TO authenticated USING ((select auth.session() -> 'user_metadata' ->> 'role') = 'admin');
    CREATE FUNCTION public.jwt_sub() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('request.jwt.claims', true)::jsonb ->> 'sub' $$;
    CREATE POLICY via_function ON trusting FOR UPDATE TO authenticated USING (user_id = (select public.jwt_sub()));
    CREATE VIEW notes_everyone AS SELECT * FROM notes;
    GRANT SELECT ON notes_everyone TO authenticated;
    CREATE TABLE catalogue (id int);
    CREATE VIEW catalogue_view AS SELECT * FROM catalogue;
    GRANT SELECT ON catalogue_view TO anonymous;
    CREATE FUNCTION public.definer_open() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM notes';
    CREATE FUNCTION public.definer_half() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = public AS 'SELECT count(*) FROM notes';
    REVOKE EXECUTE ON FUNCTION public.definer_half() FROM PUBLIC;
    GRANT INSERT ON auth.keys TO authenticated;
    GRANT CREATE ON SCHEMA auth TO anonymous;
    SELECT auth.add_provider('keyless', 'https://keyless.test');
    UPDATE auth.providers SET subject_prefix = NULL;
    CREATE ROLE ${P}_app LOGIN;
    GRANT authenticated TO ${P}_app;
    CREATE TABLE app_owned (id int);
    ALTER TABLE app_owned OWNER TO ${P}_app;
    CREATE TABLE audit (id int);
    GRANT SELECT, DELETE ON audit TO ${P}_app;
    CREATE ROLE ${P}_bare LOGIN;
    CREATE ROLE ${P}_reader LOGIN BYPASSRLS;
    GRANT SELECT ON auth.seal_secret, auth.hmac_keys TO ${P}_reader;`);
});
afterAll(async () => {
  await broken?.pool.query(`REVOKE CREATE ON SCHEMA auth FROM anonymous; DROP OWNED BY ${P}_app, ${P}_bare, ${P}_reader, ${P}_conn`).catch(() => undefined);
  await Promise.all([healthy?.drop(), broken?.drop(), empty?.drop()]);
  await dropRoles(`${P}_app`, `${P}_bare`, `${P}_reader`, `${P}_conn`);
});

describe('authdb doctor', () => {
  it('passes a healthy installation: no finding, exit 0', async () => {
    const { code, report } = await doctor(healthy);
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(code).toBe(0);
    expect(report.checked).toEqual(expect.arrayContaining(['install', 'roles', 'logins', 'providers', 'rls', 'views', 'policies', 'functions', 'grants', 'secrets']));
    const human = await authdb(['doctor', '--database-url', healthy.url]);
    expect(human.code).toBe(0);
  });

  it('ranks leaks as problems and fail-closed states below them', async () => {
    const { code, report, stderr } = await doctor(broken);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^authdb: doctor found \d+ problem\(s\)$/m);
    expect(report.ok).toBe(false);
    expect(find(report, 'rls_disabled_exposed', 'public.open_table')).toMatchObject({
      severity: 'problem', message: expect.stringContaining('anonymous can use table public.open_table, which has row-level security off'),
      fix: "SELECT auth.policy_owner('public.open_table'); -- owner-only rows (enables RLS); or REVOKE ALL ON public.open_table FROM anonymous;",
    });
    expect(find(report, 'rls_disabled_exposed', 'public.forgotten')).toMatchObject({ severity: 'problem', fix: 'ALTER TABLE public.forgotten ENABLE ROW LEVEL SECURITY;' });
    expect(find(report, 'policy_exists_rls_disabled', 'public.dormant')).toMatchObject({ severity: 'warning' });
    expect(find(report, 'rls_enabled_no_policy', 'public.locked')).toMatchObject({ severity: 'info' });
    expect(find(report, 'policy_role_without_privilege', 'public.ungranted')).toMatchObject({ severity: 'warning' });
    expect(find(report, 'auth_call_per_row', 'public.slow: per_row')).toMatchObject({ severity: 'warning', message: expect.stringContaining('calls auth.user_id() once per row') });
    expect(find(report, 'auth_call_per_row', 'public.slow: correlated')).toMatchObject({ severity: 'warning' });
    expect(find(report, 'policy_trusts_setting', 'public.trusting: postgrest')).toMatchObject({ severity: 'problem', message: expect.stringContaining('request.jwt.*') });
    expect(find(report, 'policy_trusts_setting', 'public.trusting: tenant')).toMatchObject({ severity: 'warning' });
    expect(find(report, 'policy_trusts_setting', 'public.trusting: via_function')).toMatchObject({ severity: 'problem', message: expect.stringContaining('public.jwt_sub()') });
    expect(find(report, 'policy_user_metadata', 'public.trusting: metadata')).toMatchObject({ severity: 'problem' });
    expect(find(report, 'view_bypasses_rls', 'public.notes_everyone')).toMatchObject({
      severity: 'problem', message: expect.stringContaining('reads public.notes with its owner\'s rights, bypassing row-level security'),
    });
    expect(find(report, 'security_definer_view', 'public.catalogue_view')).toMatchObject({ severity: 'warning' });
    expect(find(report, 'definer_mutable_search_path', 'public.definer_open()')).toMatchObject({
      severity: 'problem', fix: 'ALTER FUNCTION public.definer_open() SET search_path = pg_catalog, public, pg_temp; -- and schema-qualify what it calls',
    });
    expect(find(report, 'definer_mutable_search_path', 'public.definer_half()')).toMatchObject({ severity: 'warning', message: expect.stringContaining('pins search_path=public without pg_temp last') });
    expect(find(report, 'auth_table_privilege', 'authenticated: auth.keys')).toMatchObject({
      severity: 'problem', message: 'authenticated has INSERT on auth.keys: only the auth schema owner may touch the key store', fix: 'REVOKE ALL ON auth.keys FROM authenticated, PUBLIC;',
    });
    expect(find(report, 'auth_schema_create', 'anonymous')).toMatchObject({ severity: 'problem' });
    for (const role of ['authenticated', 'anonymous']) {
      expect(find(report, 'auth_role_temp', role)).toMatchObject({
        severity: 'problem', fix: expect.stringMatching(new RegExp(`^REVOKE TEMPORARY ON DATABASE ${broken.name} FROM PUBLIC;`)),
      });
    }
    expect(find(report, 'provider_unusable', 'keyless')).toMatchObject({ severity: 'problem' });
    expect(find(report, 'providers_share_subjects')).toMatchObject({
      severity: 'warning', subject: 'idp, keyless', fix: 'authdb provider update keyless --subject-prefix keyless:',
    });
    expect(find(report, 'login_cannot_set_role', `${P}_app`)).toMatchObject({ severity: 'problem', message: expect.stringContaining('cannot SET ROLE anonymous') });
    expect(find(report, 'login_owns_tables', `${P}_app`)).toMatchObject({ severity: 'problem', message: expect.stringContaining('public.app_owned') });
    expect(find(report, 'login_table_privileges', `${P}_app`)).toMatchObject({
      severity: 'problem', message: expect.stringContaining('public.audit (SELECT, DELETE)'), fix: `REVOKE ALL ON TABLE public.audit FROM ${P}_app;`,
    });
    expect(find(report, 'seal_secret_readable', `${P}_reader`)).toMatchObject({
      severity: 'problem', fix: `REVOKE ALL ON auth.seal_secret FROM PUBLIC, ${P}_reader; ALTER ROLE ${P}_reader NOBYPASSRLS; -- then run \`authdb seal rotate\`: what was readable may have been read`,
    });
    expect(find(report, 'hmac_keys_readable', `${P}_reader`)).toMatchObject({ severity: 'problem', message: expect.stringContaining('forge tokens of those providers') });
    // the template-made policies of notes are not flagged; every finding carries a fix
    expect(report.findings.filter((f) => f.subject?.startsWith('public.notes:'))).toEqual([]);
    for (const finding of report.findings) expect(finding.fix.length, finding.code).toBeGreaterThan(10);
    const human = await authdb(['doctor', '--database-url', broken.url]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^info rls_enabled_no_policy: table public.locked has row-level security on but no policy.* -- fix: /m);
  });

  it('a view the doctor flags really leaks, and its fix stops the leak', async () => {
    const alice = await brokenIssuer.hs256({ sub: 'alice' });
    const read = () => withAuth(broken.pool, alice, async (c) => (await c.query('SELECT body FROM notes_everyone ORDER BY id')).rows.map((r) => r.body as string));
    expect(await read()).toEqual(["alice's note", "bob's secret"]); // bob's row, through the view
    const fix = find((await doctor(broken)).report, 'view_bypasses_rls', 'public.notes_everyone')!.fix;
    await broken.pool.query(fix);
    if (invokerViews) expect(await read()).toEqual(["alice's note"]);
    else await expect(read()).rejects.toThrow(/permission denied/);
    expect(find((await doctor(broken)).report, 'view_bypasses_rls', 'public.notes_everyone')).toBeUndefined();
  });

  it('each printed fix SQL, run as printed, clears its finding', async () => {
    const before = (await doctor(broken)).report;
    const fixable: [string, string][] = [
      ['rls_disabled_exposed', 'public.open_table'], ['rls_disabled_exposed', 'public.forgotten'], ['policy_exists_rls_disabled', 'public.dormant'],
      ['definer_mutable_search_path', 'public.definer_open()'], ['definer_mutable_search_path', 'public.definer_half()'],
      ['auth_table_privilege', 'authenticated: auth.keys'], ['auth_schema_create', 'anonymous'], ['auth_role_temp', 'authenticated'],
      ['login_cannot_set_role', `${P}_app`], ['login_table_privileges', `${P}_app`], ['seal_secret_readable', `${P}_reader`],
      ['hmac_keys_readable', `${P}_reader`],
    ];
    for (const [code, subject] of fixable) {
      const finding = find(before, code, subject);
      expect(finding, `${code} ${subject}`).toBeDefined();
      await broken.pool.query(finding!.fix.replace(/ -- .*$/, ''));
    }
    const after = (await doctor(broken)).report;
    for (const [code, subject] of fixable) expect(find(after, code, subject), `${code} ${subject}`).toBeUndefined();
    expect(find(after, 'auth_role_temp', 'anonymous')).toBeUndefined(); // one REVOKE … FROM PUBLIC fixed both
  });

  it('--app-role checks a login role strictly: no membership, superuser, unknown role', async () => {
    const bare = await doctor(broken, '--app-role', `${P}_bare`);
    const withSet = inject('serverVersionNum') >= 160000 ? ' WITH SET TRUE' : ''; // Postgres 16 separates SET from membership
    expect(bare.report.findings.filter((f) => f.code === 'login_cannot_set_role' && f.subject === `${P}_bare`).map((f) => f.fix).sort()).toEqual([
      `GRANT anonymous TO ${P}_bare${withSet};`, `GRANT authenticated TO ${P}_bare${withSet};`,
    ]);
    const superuser = await doctor(broken, '--app-role', 'postgres');
    expect(find(superuser.report, 'login_bypasses_rls', 'postgres')).toMatchObject({ severity: 'problem', message: expect.stringContaining('RESET ROLE') });
    const unknown = await authdb(['doctor', '--database-url', broken.url, '--app-role', `${P}_nobody`]);
    expectOneLineError(unknown, 1, new RegExp(`no role named ${P}_nobody`));
  });

  it('the auth schema owner: session scope needs pg_read_all_stats; a login that can act as the owner is a problem', async () => {
    const db = await createTestDatabase();
    try {
      await db.pool.query(`
        CREATE ROLE ${P}_owner NOLOGIN;
        ALTER SCHEMA auth OWNER TO ${P}_owner;
        CREATE ROLE ${P}_dba LOGIN;
        GRANT ${P}_owner, authenticated, anonymous TO ${P}_dba;`);
      const before = (await doctor(db)).report;
      const scope = find(before, 'session_scope_unavailable', `${P}_owner`);
      expect(scope).toMatchObject({ severity: 'warning', fix: `GRANT pg_read_all_stats TO ${P}_owner;` });
      const owner = find(before, 'login_owns_auth', `${P}_dba`);
      expect(owner).toMatchObject({ severity: 'problem', message: expect.stringContaining('reads the sealing secret'), fix: `REVOKE ${P}_owner FROM ${P}_dba;` });
      await db.pool.query(scope!.fix);
      await db.pool.query(owner!.fix);
      const after = (await doctor(db)).report;
      expect(find(after, 'session_scope_unavailable')).toBeUndefined();
      expect(find(after, 'login_owns_auth', `${P}_dba`)).toBeUndefined();
    } finally {
      await db.drop();
      await dropRoles(`${P}_dba`, `${P}_owner`);
    }
  });

  it('run with the application\'s own URL, it says whom to run as instead', async () => {
    await broken.pool.query(`CREATE ROLE ${P}_conn LOGIN PASSWORD 'conn-pw'`);
    const url = new URL(broken.url);
    url.username = `${P}_conn`;
    url.password = 'conn-pw';
    expectOneLineError(await authdb(['doctor', '--database-url', url.toString()]), 1, /run it as the auth schema owner or a superuser, and name the application's login with --app-role/);
  });

  it('--strict fails on warnings; info alone passes', async () => {
    await healthy.pool.query('CREATE TABLE fail_closed (id int); ALTER TABLE fail_closed ENABLE ROW LEVEL SECURITY');
    expect((await authdb(['doctor', '--database-url', healthy.url, '--strict'])).code).toBe(0);
    await healthy.pool.query('CREATE TABLE half (id int); CREATE POLICY p ON half USING (true)');
    expect((await authdb(['doctor', '--database-url', healthy.url])).code).toBe(0);
    const strict = await authdb(['doctor', '--database-url', healthy.url, '--strict']);
    expectOneLineError(strict, 1, /problem\(s\) or warning\(s\)/);
    await healthy.pool.query('DROP TABLE fail_closed, half');
  });

  it('says authdb is not installed on an empty database (library entry point too)', async () => {
    const client = await empty.pool.connect();
    try {
      await client.query('SET search_path = public');
      const report = await runDoctor(client);
      expect(report.ok).toBe(false);
      expect(report.findings).toEqual([expect.objectContaining({ code: 'not_installed', fix: 'run `authdb migrate`' })]);
      // the caller's search_path is put back
      expect((await client.query('SHOW search_path')).rows[0].search_path).toBe('public');
    } finally {
      client.release();
    }
    expectOneLineError(await authdb(['doctor', '--database-url', empty.url]), 1, /doctor found 1 problem/);
  });
});

// Policy expressions as pg_get_expr prints them, read by Postgres's own parser: the text scanner it
// replaced was fooled by string literals (a call inside one, a `( SELECT` inside one) and by
// parentheses inside literals, and it did not see that a call under a FROM clause runs per row of it.
describe('authdb doctor: calls per row, as Postgres parses the policy', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`
      CREATE TABLE t (id int, user_id text, note text);
      CREATE TABLE members (org int, user_id text);
      ALTER TABLE t ENABLE ROW LEVEL SECURITY;
      GRANT SELECT, UPDATE ON t TO authenticated;
      GRANT SELECT ON members TO authenticated;
      CREATE SCHEMA myauth;
      CREATE FUNCTION myauth.user_id() RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'x' $$;
      CREATE FUNCTION public.sub_v2() RETURNS text LANGUAGE sql STABLE
        AS $$ -- was: current_setting('request.jwt.claims', true)::jsonb ->> 'sub'
              /* user_metadata is not read here */ SELECT (SELECT auth.user_id()) $$;
      CREATE POLICY literal ON t FOR SELECT TO authenticated USING (note = 'auth.user_id()' AND user_id = (select auth.user_id()));
      CREATE POLICY comment_like ON t FOR SELECT TO authenticated USING (note = '/* ( SELECT */' || auth.user_id());
      CREATE POLICY parens ON t FOR SELECT TO authenticated USING ((select auth.user_id() || '))' = user_id));
      CREATE POLICY nested ON t FOR SELECT TO authenticated USING (user_id = (select lower(((auth.user_id())))));
      CREATE POLICY exists_per_member ON t FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM members m WHERE m.user_id = auth.user_id() AND m.org = t.id));
      CREATE POLICY exists_wrapped ON t FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM members m WHERE m.user_id = (select auth.user_id()) AND m.org = t.id));
      CREATE POLICY exists_correlated ON t FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM members m WHERE (select m.user_id = auth.user_id())));
      CREATE POLICY quoted ON t FOR UPDATE TO authenticated USING (true) WITH CHECK (user_id = "auth"."user_id"());
      CREATE POLICY lookalike ON t FOR SELECT TO authenticated USING (user_id = myauth.user_id());
      CREATE POLICY jwt_literal ON t FOR SELECT TO authenticated USING (note <> 'request.jwt.claims' AND user_id = (select auth.user_id()));
      CREATE POLICY via_commented ON t FOR SELECT TO authenticated USING (user_id = (select public.sub_v2()));`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('finds the calls that run per row and only those', async () => {
    const { report } = await doctor(db);
    const perRow = (policy: string) => find(report, 'auth_call_per_row', `public.t: ${policy}`);
    for (const policy of ['comment_like', 'parens', 'exists_per_member', 'exists_correlated', 'quoted']) {
      expect(perRow(policy), policy).toMatchObject({ severity: 'warning', message: expect.stringContaining(`calls ${TEST_SCHEMA}.user_id() once per row`) });
    }
    for (const policy of ['literal', 'nested', 'exists_wrapped', 'lookalike', 'jwt_literal', 'via_commented']) expect(perRow(policy), policy).toBeUndefined();
    // a literal naming the claims setting is not a read of it; a comment in a function is not its body
    expect(report.findings.filter((f) => f.code === 'policy_trusts_setting' || f.code === 'policy_user_metadata')).toEqual([]);
    expect(report.skipped).toEqual([]);
  });

  it('agrees with the planner: a call it passes runs in an InitPlan, one it flags in the per-row filter', async () => {
    /** The plan of a SELECT on t under the request role with only `policy`, and its filter without literals. */
    const planWith = async (policy: string): Promise<{ plan: string; filter: string }> => {
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        const others = await client.query<{ name: string }>("SELECT pg_catalog.quote_ident(policyname) AS name FROM pg_catalog.pg_policies WHERE tablename = 't' AND policyname <> $1", [policy]);
        for (const { name } of others.rows) await client.query(`DROP POLICY ${name} ON t`);
        await client.query('SET LOCAL ROLE authenticated');
        const plan = (await client.query<{ 'QUERY PLAN': string }>('EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM t')).rows.map((r) => r['QUERY PLAN']);
        return { plan: plan.join('\n'), filter: plan.find((line) => line.includes('Filter:'))!.replace(/'[^']*'/g, "''") };
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    };
    const passed = await planWith('literal');
    expect(passed.plan).toMatch(/InitPlan \d+/);
    expect(passed.filter).not.toContain('user_id()');
    const flagged = await planWith('comment_like');
    expect(flagged.plan).not.toMatch(/InitPlan \d+/);
    expect(flagged.filter).toContain(`${TEST_SCHEMA}.user_id()`);
  });
});

describe('authdb doctor: authdb in another schema', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    const migrate = await authdb(['migrate', '--schema', 'authdb', '--database-url', db.url, '--json']);
    expect(migrate.code, migrate.stderr).toBe(0);
    // an `auth` schema of someone else's (Supabase's, pg_session_jwt's) with a user_id() of its own;
    // sent as written (the suite's pools would address AUTHDB_TEST_SCHEMA)
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`
      CREATE SCHEMA auth;
      CREATE FUNCTION auth.user_id() RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'x' $$;
      CREATE TABLE t (id int, user_id text);
      ALTER TABLE t ENABLE ROW LEVEL SECURITY;
      GRANT SELECT ON t TO authenticated;
      CREATE POLICY per_row ON t FOR SELECT TO authenticated USING (user_id = authdb.user_id());
      CREATE POLICY wrapped ON t FOR SELECT TO authenticated USING (user_id = (select authdb.user_id()));
      CREATE POLICY not_authdb ON t FOR SELECT TO authenticated USING (user_id = auth.user_id());`);
    await client.end();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('counts the calls of that schema\'s functions, not of another schema named auth', async () => {
    const { report } = await doctor(db, '--schema', 'authdb');
    expect(find(report, 'auth_call_per_row', 'public.t: per_row')).toMatchObject({
      message: expect.stringContaining('calls authdb.user_id() once per row'), fix: expect.stringContaining('column = (select authdb.user_id())'),
    });
    expect(find(report, 'auth_call_per_row', 'public.t: wrapped')).toBeUndefined();
    expect(find(report, 'auth_call_per_row', 'public.t: not_authdb')).toBeUndefined();
  });
});
