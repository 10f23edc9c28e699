// `authdb why`, through the built binary: the denials it explains on tables guarded by the policy
// templates (owner, tenant, restrictive) and by hand-written policies, row-level security off, a
// missing grant, default deny, --key (single and composite), --token, --json, and its errors.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WhyReport } from '../src/why/index.js';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { createTestDatabase, dropRoles, type TestDatabase } from './support/db.js';
import { TEST_SCHEMA } from './support/schema.js';
import { TestIssuer } from './support/tokens.js';

let db: TestDatabase;
let issuer: TestIssuer;
const OWNER = `why_owner_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await TestIssuer.create(db.pool, 'idp');
  await db.pool.query(`
    CREATE ROLE ${OWNER} NOLOGIN;
    CREATE SCHEMA app AUTHORIZATION ${OWNER};
    GRANT USAGE ON SCHEMA app TO authenticated;

    CREATE TABLE app.todos (id bigint PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
    INSERT INTO app.todos VALUES (1, 'alice', 'mine'), (2, 'bob', 'his'), (3, 'alice', 'mine too');
    SELECT auth.policy_owner('app.todos', 'user_id');

    CREATE TABLE app.invoices (id bigint PRIMARY KEY, user_id text NOT NULL, tenant_id text NOT NULL);
    INSERT INTO app.invoices VALUES (1, 'alice', 'acme'), (2, 'alice', 'globex');
    SELECT auth.policy_owner('app.invoices', 'user_id');
    SELECT auth.policy_tenant('app.invoices', 'tenant_id', 'tenant_id', 'restrictive');

    -- hand-written: a composite key, a claim test and a public flag
    CREATE TABLE app.notes (org_id int, note_id int, public boolean NOT NULL, body text, PRIMARY KEY (org_id, note_id));
    INSERT INTO app.notes VALUES (1, 1, true, 'hello'), (1, 2, false, 'draft');
    ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY;
    CREATE POLICY notes_public ON app.notes FOR SELECT TO PUBLIC USING (public);
    CREATE POLICY notes_editors ON app.notes FOR ALL TO authenticated USING ((SELECT auth.has_claim('roles', 'editor')));
    CREATE POLICY notes_admins ON app.notes FOR SELECT TO ${OWNER} USING (true);
    GRANT SELECT, INSERT ON app.notes TO authenticated;

    CREATE TABLE app.open_board (id int PRIMARY KEY, msg text);
    INSERT INTO app.open_board VALUES (1, 'hi');
    GRANT SELECT ON app.open_board TO authenticated;

    CREATE TABLE app.ungranted (id int PRIMARY KEY, user_id text);
    INSERT INTO app.ungranted VALUES (1, 'alice');
    ALTER TABLE app.ungranted ENABLE ROW LEVEL SECURITY;
    CREATE POLICY mine ON app.ungranted FOR SELECT TO authenticated USING (user_id = (SELECT auth.user_id()));
    GRANT SELECT (id) ON app.ungranted TO authenticated;

    CREATE TABLE app.locked (id int PRIMARY KEY);
    INSERT INTO app.locked VALUES (1);
    ALTER TABLE app.locked ENABLE ROW LEVEL SECURITY;
    GRANT SELECT ON app.locked TO authenticated;

    ALTER TABLE app.todos OWNER TO ${OWNER};
    ALTER TABLE app.invoices OWNER TO ${OWNER};
    ALTER TABLE app.notes OWNER TO ${OWNER};
  `);
});
afterAll(async () => {
  await db?.drop();
  await dropRoles(OWNER);
});

const why = (...args: string[]) => authdb(['why', '--database-url', db.url, ...args]);
async function report(...args: string[]): Promise<WhyReport> {
  const result = await why('--json', ...args);
  expect(result.code, result.stderr).toBe(0);
  return jsonOutput<WhyReport>(result);
}
const command = (r: WhyReport, name: string) => r.commands.find((c) => c.command === name)!;

describe('authdb why: the owner template', () => {
  it('--key: a row of someone else is denied, and the owner policy is the one that said no', async () => {
    const r = await report('--as', 'alice', 'app.todos', '--key', '2');
    expect(r.table).toBe('app.todos');
    expect(r.key).toEqual({ id: '2' });
    expect(r.identity).toMatchObject({ userId: 'alice', provider: 'idp', source: 'impersonation' });
    const select = command(r, 'select');
    expect(select.allowed).toBe(false);
    expect(select.reasons).toEqual(['no_permissive_match']);
    const policy = select.clauses[0]!.policies.find((p) => p.name === 'authdb_owner_select')!;
    expect(policy).toMatchObject({ mode: 'permissive', applies: true, admitted: 0, error: null });
    expect(policy.expression).toMatch(new RegExp(`${TEST_SCHEMA}\\.user_id\\(\\)`));
    expect(command(r, 'update').allowed).toBe(false);
  });

  it('--key: her own row is allowed for every command; WITH CHECK tests the row as it is', async () => {
    const r = await report('--as', 'alice', 'app.todos', '--key', 'id=1');
    for (const c of r.commands) expect(c.allowed, c.command).toBe(true);
    const check = command(r, 'update').clauses.find((c) => c.clause === 'with check')!;
    expect(check.outcome).toBe('admitted');
    expect(check.policies[0]!.admitted).toBe(1);
  });

  it('without --key: counts the rows each policy admits', async () => {
    const r = await report('--as', 'alice', 'app.todos');
    expect(r.rows).toBe(3);
    expect(command(r, 'select')).toMatchObject({ allowed: true, admitted: 2, reasons: ['partly'] });
    expect(command(r, 'delete').admitted).toBe(2);
    const bob = await report('--as', 'bob', 'app.todos');
    expect(command(bob, 'select').admitted).toBe(1);
  });

  it('prints a verdict per command, the policy, its expression and what it said', async () => {
    const result = await why('--as', 'alice', 'app.todos', '--key', '2');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^app\.todos, as alice \(provider idp, impersonated, no token\), the row id = 2/);
    expect(result.stdout).toMatch(/^SELECT {2}DENIED$/m);
    expect(result.stdout).toMatch(/no permissive policy admits the row/);
    expect(result.stdout).toMatch(/^ {4}no {6}permissive {2}authdb_owner_select$/m);
    expect(result.stdout).toMatch(new RegExp(`user_id = \\( SELECT ${TEST_SCHEMA}\\.user_id\\(\\)`));
  });
});

describe('authdb why: restrictive and hand-written policies', () => {
  it('a restrictive tenant policy vetoes a row the owner policy admits', async () => {
    const r = await report('--as', 'alice', '--claim', 'tenant_id=acme', 'app.invoices', '--key', '2');
    const select = command(r, 'select');
    expect(select.allowed).toBe(false);
    expect(select.clauses[0]).toMatchObject({ outcome: 'restrictive_veto', vetoedBy: ['authdb_tenant_select'] });
    const human = await why('--as', 'alice', '--claim', 'tenant_id=acme', 'app.invoices', '--key', '2');
    expect(human.stdout).toMatch(/vetoed by restrictive authdb_tenant_select/);
    const same = await report('--as', 'alice', '--claim', 'tenant_id=acme', 'app.invoices', '--key', '1');
    expect(command(same, 'select').allowed).toBe(true);
  });

  it('composite --key, claims that stay typed, PUBLIC and other roles\' policies', async () => {
    const plain = await report('--as', 'carol', 'app.notes', '--key', 'org_id=1', '--key', 'note_id=2');
    expect(plain.key).toEqual({ org_id: '1', note_id: '2' });
    const policies = command(plain, 'select').clauses[0]!.policies;
    expect(policies.find((p) => p.name === 'notes_public')).toMatchObject({ roles: ['public'], applies: true, admitted: 0 });
    expect(policies.find((p) => p.name === 'notes_admins')).toMatchObject({ roles: [OWNER], applies: false, admitted: null });
    expect(command(plain, 'select').allowed).toBe(false);
    const editor = await report('--as', 'carol', '--claim', 'roles=["editor"]', 'app.notes', '--key', 'note_id=2', '--key', 'org_id=1');
    expect(command(editor, 'select').allowed).toBe(true);
    // FOR ALL without WITH CHECK: USING serves as the check; INSERT is granted, UPDATE is not
    const insert = command(editor, 'insert');
    expect(insert.allowed).toBe(true);
    expect(insert.clauses[0]!.policies.find((p) => p.name === 'notes_editors')!.fromUsing).toBe(true);
    expect(command(editor, 'update')).toMatchObject({ allowed: false, reasons: expect.arrayContaining(['no_privilege']) });
  });
});

describe('authdb why: grants and row-level security', () => {
  it('row-level security off: every granted row, and says so', async () => {
    const r = await report('--as', 'alice', 'app.open_board', '--key', '1');
    expect(r.rowSecurity).toMatchObject({ enabled: false, enforced: false });
    expect(command(r, 'select')).toMatchObject({ allowed: true, reasons: ['not_enforced'] });
    expect(command(r, 'insert')).toMatchObject({ allowed: false, reasons: ['no_privilege', 'not_enforced'] });
    const human = await why('--as', 'alice', 'app.open_board');
    expect(human.stdout).toMatch(/row-level security: OFF/);
    expect(human.stdout).toMatch(/GRANT INSERT ON app\.open_board TO authenticated/);
  });

  it('a missing table grant, and a column-only grant', async () => {
    const r = await report('--as', 'alice', 'app.ungranted', '--key', '1');
    expect(command(r, 'select')).toMatchObject({ privilege: { table: false, columns: ['id'] }, reasons: ['column_privileges_only', 'admitted'] });
    expect(command(r, 'delete')).toMatchObject({ allowed: false, reasons: expect.arrayContaining(['no_privilege']) });
    const human = await why('--as', 'alice', 'app.ungranted', '--key', '1');
    expect(human.stdout).toMatch(/SELECT is granted on columns id only/);
  });

  it('row-level security on and no policy: default deny', async () => {
    const r = await report('--as', 'alice', 'app.locked', '--key', '1');
    expect(command(r, 'select')).toMatchObject({ allowed: false, reasons: ['default_deny'] });
    const human = await why('--as', 'alice', 'app.locked');
    expect(human.stdout).toMatch(/default deny/);
  });

  it('FORCE ROW LEVEL SECURITY shows in the report', async () => {
    await db.pool.query('ALTER TABLE app.locked FORCE ROW LEVEL SECURITY');
    try {
      const r = await report('--as', 'alice', 'app.locked');
      expect(r.rowSecurity).toMatchObject({ enabled: true, forced: true, enforced: true });
    } finally {
      await db.pool.query('ALTER TABLE app.locked NO FORCE ROW LEVEL SECURITY');
    }
  });
});

describe('authdb why: identity', () => {
  it('--token: the token is verified, and its subject is the user', async () => {
    const token = await issuer.hs256({ sub: 'bob' });
    const r = await report('--token', token, 'app.todos', '--key', '2');
    expect(r.identity).toMatchObject({ userId: 'bob', provider: 'idp', source: 'token' });
    expect(command(r, 'select').allowed).toBe(true);
    const fromStdin = await authdb(['why', '--database-url', db.url, '--json', '--token', '-', 'app.todos', '--key', '2'], { input: token });
    expect(jsonOutput<WhyReport>(fromStdin).identity.userId).toBe('bob');
  });

  it('--token: a rejected token fails with its rejection code, never echoing the token', async () => {
    const token = await issuer.hs256({ sub: 'bob', exp: Math.floor(Date.now() / 1000) - 3600 });
    const result = await why('--token', token, 'app.todos');
    expectOneLineError(result, 1, /jwt rejected: expired/);
    expect(result.stderr).not.toContain(token.split('.')[2]!);
    const json = await why('--json', '--token', token, 'app.todos');
    expect(jsonOutput<{ error: { code: string } }>(json).error.code).toBe('jwt_rejected');
  });

  it('--provider: a second provider\'s subjects carry its prefix; several providers need --provider', async () => {
    await TestIssuer.create(db.pool, 'other');
    await db.pool.query("UPDATE auth.providers SET subject_prefix = 'other:' WHERE name = 'other'");
    try {
      expectOneLineError(await why('--as', 'alice', 'app.todos'), 1, /2 providers are registered/);
      const r = await report('--as', 'alice', '--provider', 'other', 'app.todos', '--key', '1');
      expect(r.identity.userId).toBe('other:alice');
      expect(command(r, 'select').allowed).toBe(false);
      expect(command(await report('--as', 'alice', '--provider', 'idp', 'app.todos', '--key', '1'), 'select').allowed).toBe(true);
      expectOneLineError(await why('--as', 'alice', '--provider', 'nope', 'app.todos'), 1, /no provider named nope/);
    } finally {
      await db.pool.query("DELETE FROM auth.providers WHERE name = 'other'");
    }
  });
});

describe('authdb why: errors', () => {
  it('usage errors exit 2 with one line', async () => {
    expectOneLineError(await why('app.todos'), 2, /--as SUB .* or --token JWT/);
    expectOneLineError(await why('--as', 'alice', '--token', 'x', 'app.todos'), 2);
    expectOneLineError(await why('--as', 'alice', '--claim', 'oops', 'app.todos'), 2, /NAME=VALUE/);
    expectOneLineError(await why('--token', 'x', '--provider', 'idp', 'app.todos'), 2, /go with --as/);
    expectOneLineError(await why('--as', 'alice', '--claim', 'sub=bob', 'app.todos'), 2, /--as/);
    expectOneLineError(await why('--as', 'alice'), 2);
  });

  it('an unknown table, a bad or missing key, a missing row: one line, exit 1', async () => {
    expectOneLineError(await why('--as', 'alice', 'app.nope'), 1, /no table app\.nope/);
    expectOneLineError(await why('--as', 'alice', 'a.b.c.d'), 1, /not a table name/);
    expectOneLineError(await why('--as', 'alice', 'app.notes', '--key', '1'), 1, /COLUMN=VALUE/);
    expectOneLineError(await why('--as', 'alice', 'app.notes', '--key', 'org_id=1'), 1, /misses note_id/);
    expectOneLineError(await why('--as', 'alice', 'app.todos', '--key', '99'), 1, /no row of app\.todos has id = 99/);
    expectOneLineError(await why('--as', 'alice', 'app.todos', '--key', 'abc'), 1, /--key: invalid input syntax/);
    const json = await why('--json', '--as', 'alice', 'app.nope');
    expect(jsonOutput<{ error: { code: string; message: string } }>(json).error).toMatchObject({ code: 'failed' });
  });

  it('a bare name resolves when one schema has it, never through search_path', async () => {
    const r = await report('--as', 'alice', 'invoices', '--key', '1');
    expect(r.table).toBe('app.invoices');
    await db.pool.query('CREATE TABLE public.invoices (id int PRIMARY KEY)');
    try {
      expectOneLineError(await why('--as', 'alice', 'invoices'), 1, /ambiguous: app\.invoices, invoices|ambiguous/);
    } finally {
      await db.pool.query('DROP TABLE public.invoices');
    }
  });

  it('--help teaches the key syntax and the safety of the run', async () => {
    const result = await authdb(['why', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/--key COLUMN=VALUE/);
    expect(result.stdout).toMatch(/rolled back/);
  });
});
