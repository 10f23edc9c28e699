// `authdb doctor`: a healthy installation passes; each kind of breakage is found, with its fix.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor, type DoctorReport } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';

const run = promisify(execFile);
let healthy: TestDatabase;
let broken: TestDatabase;
let empty: TestDatabase;

async function doctorOf(db: TestDatabase): Promise<DoctorReport> {
  const client = await db.pool.connect();
  try {
    return await runDoctor(client);
  } finally {
    client.release();
  }
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'cli/authdb.ts', ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  [healthy, broken, empty] = await Promise.all([createTestDatabase(), createTestDatabase(), createTestDatabase({ empty: true })]);
  for (const db of [healthy, broken]) {
    const issuer = await TestIssuer.create(db.pool, 'idp');
    await issuer.addKey('HS256');
    await db.pool.query(`CREATE TABLE notes (id int, user_id text); SELECT auth.policy_owner('notes');`);
  }
  await broken.pool.query(`
    CREATE TABLE locked (id int);
    ALTER TABLE locked ENABLE ROW LEVEL SECURITY;
    CREATE TABLE slow (id int, user_id text);
    ALTER TABLE slow ENABLE ROW LEVEL SECURITY;
    CREATE POLICY per_row ON slow FOR SELECT TO authenticated USING (user_id = auth.user_id());
    CREATE POLICY correlated ON slow FOR UPDATE TO authenticated USING ((select auth.user_id() = user_id));
    CREATE TABLE ungranted (id int);
    ALTER TABLE ungranted ENABLE ROW LEVEL SECURITY;
    CREATE POLICY everyone ON ungranted FOR SELECT TO anonymous USING (true);
    CREATE TABLE open_table (id int);
    GRANT SELECT ON open_table TO anonymous;
    GRANT INSERT ON auth.keys TO authenticated;
    GRANT CREATE ON SCHEMA auth TO anonymous;
    SELECT auth.add_provider('keyless', 'https://keyless.test');`);
});
afterAll(async () => {
  await broken?.pool.query('REVOKE CREATE ON SCHEMA auth FROM anonymous').catch(() => undefined);
  await Promise.all([healthy?.drop(), broken?.drop(), empty?.drop()]);
});

describe('doctor', () => {
  it('passes a healthy installation with no finding', async () => {
    const report = await doctorOf(healthy);
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.installedVersion).toBe(report.packageVersion);
    expect(report.checked).toEqual(expect.arrayContaining(['version', 'migrations', 'providers', 'rls', 'policies', 'grants']));
  });

  it('finds every breakage, each with a fix', async () => {
    const report = await doctorOf(broken);
    expect(report.ok).toBe(false);
    const found = (check: string, subject: string) => report.findings.find((f) => f.check === check && f.subject === subject);
    expect(found('rls', 'locked')).toMatchObject({ severity: 'problem', fix: "add a policy, e.g. SELECT auth.policy_owner('locked', 'user_id');" });
    expect(found('rls', 'open_table')).toMatchObject({ severity: 'warning', message: expect.stringContaining('anonymous can use table open_table') });
    expect(found('rls', 'ungranted')).toMatchObject({ severity: 'warning', message: expect.stringContaining('anonymous has no privilege on it') });
    expect(found('policies', 'public.slow: per_row')).toMatchObject({ severity: 'warning', message: expect.stringContaining('calls auth.user_id() once per row') });
    expect(found('policies', 'public.slow: correlated')).toMatchObject({ severity: 'warning' });
    expect(found('grants', 'authenticated: auth.keys')).toMatchObject({
      severity: 'problem',
      message: 'authenticated has INSERT on auth.keys: only the auth schema owner may touch the key store',
      fix: 'REVOKE ALL ON auth.keys FROM authenticated, PUBLIC;',
    });
    expect(found('grants', 'anonymous')).toMatchObject({ severity: 'problem', message: expect.stringContaining('can CREATE in schema auth') });
    expect(found('providers', 'keyless')).toMatchObject({ severity: 'problem', message: expect.stringContaining('has no usable key') });
    // policies made by the templates are not flagged
    expect(report.findings.some((f) => f.subject?.includes('notes'))).toBe(false);
    for (const finding of report.findings) expect(finding.fix.length).toBeGreaterThan(5);
  });

  it('reports a failing key sync when the schema records sync state', async () => {
    const columns = await broken.pool.query(
      "SELECT 1 FROM information_schema.columns WHERE table_schema = 'auth' AND table_name = 'providers' AND column_name = 'last_error'",
    );
    const report = await doctorOf(broken);
    if (columns.rowCount === 0) {
      expect(report.skipped.map((s) => s.check)).toContain('provider sync health');
      return;
    }
    await broken.pool.query("UPDATE auth.providers SET jwks_url = 'https://keyless.test/jwks', last_error = 'HTTP 503 from the JWKS URL' WHERE name = 'keyless'");
    const after = await doctorOf(broken);
    expect(after.findings).toContainEqual(expect.objectContaining({
      check: 'providers', subject: 'keyless', severity: 'problem', message: 'provider keyless: the last key sync failed: HTTP 503 from the JWKS URL',
    }));
    // a later success clears it; a refresh overdue by more than an hour is stale
    await broken.pool.query(`UPDATE auth.providers SET last_error_at = now() - interval '2 hours', last_synced_at = now() - interval '1 hour',
                               next_refresh_at = now() - interval '61 minutes' WHERE name = 'keyless'`);
    const later = (await doctorOf(broken)).findings.filter((f) => f.check === 'providers' && f.subject === 'keyless');
    expect(later.map((f) => f.message)).toEqual([
      'provider keyless has no usable key: none of its tokens can verify',
      'provider keyless is stale: its keys were due for a refresh more than 1 hour ago',
    ]);
  });

  it('says authdb is not installed on an empty database', async () => {
    const report = await doctorOf(empty);
    expect(report.ok).toBe(false);
    expect(report.findings).toEqual([expect.objectContaining({ check: 'install', fix: 'run `authdb migrate`' })]);
  });

  it('CLI: exit 0 when healthy, exit 1 with --json findings when not, --strict fails on warnings', async () => {
    const ok = await cli(['doctor', '--database-url', healthy.url]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('no problems found');
    const bad = await cli(['doctor', '--database-url', broken.url, '--json']);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout) as DoctorReport;
    expect(report.ok).toBe(false);
    expect(bad.stderr).toMatch(/^authdb: doctor found \d+ problem\(s\)$/m);
    const human = await cli(['doctor', '--database-url', broken.url]);
    expect(human.stdout).toMatch(/^problem: table locked has row-level security enabled but no policy.* -- fix: /m);
    // warnings alone pass, unless --strict
    await healthy.pool.query('CREATE TABLE open2 (id int); GRANT SELECT ON open2 TO authenticated');
    expect((await cli(['doctor', '--database-url', healthy.url])).code).toBe(0);
    expect((await cli(['doctor', '--database-url', healthy.url, '--strict'])).code).toBe(1);
  });
});
