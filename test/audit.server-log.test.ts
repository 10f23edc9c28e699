// The audit trail (docs/operations.md, "Audit trail"): with `authdb.audit` at `rejections` or
// `all`, each auth.init / auth.verify writes one `authdb audit {json}` line to the server log.
// Runs on Debian's PostgreSQL 15 with the logging collector writing stderr and jsonlog files, which
// the test reads: the right lines at each level, the right fields, never the token, hostile claims
// kept on one line, and a session that cannot lower a level configured for its database or role.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateUp } from '../src/migrate.js';
import { pgError } from './support/db.js';
import { DEBIAN_PG_BIN, debianPgUnavailable, runAsServerUserSync, serverTempDir, startDebianCluster, type DebianCluster } from '../tools/pg-cluster.js';
import { rawToken, TestIssuer } from './support/tokens.js';
import { createAppDatabase } from './support/server.js';

const unavailable = debianPgUnavailable();
if (unavailable && process.env.CI) throw new Error(`CI needs Debian's PostgreSQL 15: ${unavailable}`);
if (unavailable) console.warn(`audit tests skipped: ${unavailable}`);

interface AuditLine {
  outcome: 'accepted' | 'rejected';
  code: string | null;
  iss: string | null;
  sub: string | null;
  kid: string | null;
  alg: string | null;
  token: string | null;
  pid: number;
  path: 'cold' | 'cached';
}

const PREFIX = 'authdb audit ';
const LOGIN = 'app_login';

let cluster: DebianCluster;
let admin: pg.Pool;
let issuer: TestIssuer;
let kid: string;
let marker = 0;
/** Every token the tests presented: none may ever appear in a log file. */
const presented: string[] = [];

// log_directory `log` is relative to the data directory; jsonlog writes `server.json` beside it
const stderrLog = (server: DebianCluster = cluster) => join(server.dataDir, 'log', 'server.log');
const jsonLog = (server: DebianCluster = cluster) => join(server.dataDir, 'log', 'server.json');
const read = (path: string) => readFileSync(path, 'utf8');

/** A connection as the application's login (member of authenticated), with extra startup options. */
async function connect(options?: string, server: DebianCluster = cluster): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: server.url('app').replace('postgres@', `${LOGIN}@`), options });
  await client.connect();
  return client;
}

/** auth.verify as `authenticated`; the SQLSTATE and message when it is rejected. */
async function verify(client: pg.Client, token: string): Promise<string> {
  presented.push(token);
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL ROLE authenticated');
    await client.query('SELECT auth.verify($1)', [token]);
    await client.query('COMMIT');
    return 'accepted';
  } catch (error) {
    await client.query('ROLLBACK');
    const e = error as pg.DatabaseError;
    return `${e.code} ${e.message}`;
  }
}

/**
 * The audit lines `work` wrote, from the stderr log and the jsonlog file: everything after the
 * logs' current ends up to a marker written after `work` (the collector writes in arrival order).
 */
async function auditLines(work: () => Promise<void>, server: DebianCluster = cluster, serverAdmin: pg.Pool = admin):
    Promise<{ stderr: string[]; json: AuditLine[]; raw: string }> {
  const stderrLog = () => join(server.dataDir, 'log', 'server.log');
  const jsonLog = () => join(server.dataDir, 'log', 'server.json');
  const from = { stderr: read(stderrLog()).length, json: read(jsonLog()).length };
  await work();
  const tag = `audit-test-marker-${++marker}`;
  await serverAdmin.query(`DO $$ BEGIN RAISE LOG '${tag}'; END $$`);
  const deadline = Date.now() + 10_000;
  let stderr = '';
  let json = '';
  for (;;) {
    stderr = read(stderrLog()).slice(from.stderr);
    json = read(jsonLog()).slice(from.json);
    if (stderr.includes(tag) && json.includes(tag)) break;
    if (Date.now() > deadline) throw new Error(`the log marker ${tag} did not arrive`);
    await new Promise((r) => setTimeout(r, 20));
  }
  stderr = stderr.slice(0, stderr.indexOf(tag));
  const records = json.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { message: string });
  return {
    stderr: stderr.split('\n').filter((line) => line.includes(PREFIX)),
    json: records.filter((r) => r.message.startsWith(PREFIX)).map((r) => JSON.parse(r.message.slice(PREFIX.length)) as AuditLine),
    raw: stderr,
  };
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 16);

describe.skipIf(unavailable !== null)('audit trail (authdb.audit) on Debian PostgreSQL 15', () => {
  beforeAll(async () => {
    cluster = await startDebianCluster({
      settings: {
        logging_collector: 'on',
        log_destination: 'stderr,jsonlog',
        log_directory: 'log',
        log_filename: 'server.log',
        log_rotation_age: '0',
        log_rotation_size: '0',
      },
    });
    await createAppDatabase(cluster);
    const migrator = new pg.Client({ connectionString: cluster.url('app') });
    await migrator.connect();
    await migrateUp(migrator);
    await migrator.query(`CREATE ROLE ${LOGIN} LOGIN; GRANT authenticated TO ${LOGIN}`);
    await migrator.end();
    admin = new pg.Pool({ connectionString: cluster.url('app'), max: 1 });
    issuer = await TestIssuer.create(admin, 'idp');
    kid = await issuer.addKey('ES256');
  }, 120_000);

  afterAll(async () => {
    await admin?.end();
    cluster?.destroy();
  });

  /** Sets the level for the database (NULL: RESET), as the DBA would. */
  async function databaseLevel(level: string | null): Promise<void> {
    await admin.query(level === null ? 'ALTER DATABASE app RESET authdb.audit' : `ALTER DATABASE app SET authdb.audit = '${level}'`);
  }

  /** Runs `work` on a new connection with the level set for the database, then closes it and resets the level. */
  async function atLevel<T>(level: string, work: (client: pg.Client) => Promise<T>, connectOptions?: string): Promise<T> {
    await databaseLevel(level);
    const client = await connect(connectOptions);
    try {
      return await work(client);
    } finally {
      await client.end();
      await databaseLevel(null);
    }
  }

  it('writes nothing when no level is configured or set', async () => {
    const client = await connect();
    try {
      const token = await issuer.sign(kid);
      const { stderr, json } = await auditLines(async () => {
        expect(await verify(client, token)).toBe('accepted');
        expect(await verify(client, token)).toBe('accepted');
        expect(await verify(client, `${token.slice(0, -4)}AAAA`)).toMatch(/^28000 jwt rejected: bad_signature/);
        expect(await verify(client, 'not a token')).toMatch(/^28000 jwt rejected: malformed/);
      });
      expect(stderr).toEqual([]);
      expect(json).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it('at `rejections`, logs each rejected token once and accepted ones not at all', async () => {
    await atLevel('rejections', async (client) => {
      const good = await issuer.sign(kid, { sub: 'bob' });
      // one character of the signature changed (not the last, whose low bits must stay zero)
      const at = good.lastIndexOf('.') + 10;
      const forged = `${good.slice(0, at)}${good[at] === 'A' ? 'B' : 'A'}${good.slice(at + 1)}`;
      const { json, stderr } = await auditLines(async () => {
        expect(await verify(client, good)).toBe('accepted');
        expect(await verify(client, good)).toBe('accepted');
        expect(await verify(client, forged)).toMatch(/^28000 jwt rejected: bad_signature/);
      });
      expect(stderr).toHaveLength(1);
      expect(json).toEqual([{
        outcome: 'rejected', code: 'bad_signature', iss: issuer.issuer, sub: 'bob', kid, alg: 'ES256',
        token: digest(forged), pid: (client as unknown as { processID: number }).processID, path: 'cold',
      }]);
    });
  });

  it('at `all`, logs accepted tokens on the cold and the cached path, and rejections, with their fields', async () => {
    await atLevel('all', async (client) => {
      const pid = (client as unknown as { processID: number }).processID;
      const token = await issuer.sign(kid, { sub: 'carol' });
      const expired = await issuer.sign(kid, { sub: 'carol', exp: Math.floor(Date.now() / 1000) - 3600 });
      const { json, stderr } = await auditLines(async () => {
        expect(await verify(client, token)).toBe('accepted');
        expect(await verify(client, token)).toBe('accepted');
        expect(await verify(client, expired)).toMatch(/^28000 jwt rejected: expired/);
        expect(await verify(client, 'a.b')).toMatch(/^28000 jwt rejected: malformed/);
        // auth.init too, in session scope as well
        presented.push(token);
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await client.query('SELECT auth.init($1)', [token]);
        await client.query('COMMIT');
      });
      const common = { iss: issuer.issuer, sub: 'carol', kid, alg: 'ES256', pid };
      expect(json).toEqual([
        { outcome: 'accepted', code: null, ...common, token: digest(token), path: 'cold' },
        { outcome: 'accepted', code: null, ...common, token: digest(token), path: 'cached' },
        { outcome: 'rejected', code: 'expired', ...common, token: digest(expired), path: 'cold' },
        // what is known of a token that does not parse: its digest
        { outcome: 'rejected', code: 'malformed', iss: null, sub: null, kid: null, alg: null, token: digest('a.b'), pid, path: 'cold' },
        { outcome: 'accepted', code: null, ...common, token: digest(token), path: 'cached' },
      ]);
      // one stderr line per call, the same JSON
      expect(stderr).toHaveLength(5);
      expect(JSON.parse(stderr[0]!.slice(stderr[0]!.indexOf(PREFIX) + PREFIX.length))).toEqual(json[0]);
    });
  });

  it('logs a rejection on the cached path (a revoked key) as cached', async () => {
    const revokedKid = await issuer.addKey('ES256');
    await atLevel('all', async (client) => {
      const token = await issuer.sign(revokedKid, { sub: 'dave' });
      const { json } = await auditLines(async () => {
        expect(await verify(client, token)).toBe('accepted');
        await admin.query("UPDATE auth.keys SET status = 'revoked' WHERE kid = $1", [revokedKid]);
        expect(await verify(client, token)).toMatch(/^28000 jwt rejected: key_revoked/);
      });
      expect(json.map((l) => [l.outcome, l.code, l.path, l.kid, l.sub])).toEqual([
        ['accepted', null, 'cold', revokedKid, 'dave'],
        ['rejected', 'key_revoked', 'cached', revokedKid, 'dave'],
      ]);
    });
  });

  it('keeps a hostile sub, iss and kid on one escaped line, capped at 200 characters', async () => {
    await atLevel('all', async (client) => {
      const forgedLine = '\n2026-01-01 00:00:00 UTC [1] LOG:  authdb audit {"outcome":"accepted"}';
      const hostileSub = `eve"},"outcome":"accepted${forgedLine}\r\u2028\u001b[31m\u202e`;
      const signed = await issuer.sign(kid, { sub: hostileSub });
      const unsigned = rawToken({ alg: 'ES256', kid: `k\n${'x'.repeat(500)}` }, { iss: `i"\n${forgedLine}`, sub: 'y'.repeat(1000) }, 'AAAA');
      const { json, stderr, raw } = await auditLines(async () => {
        expect(await verify(client, signed)).toBe('accepted');
        expect(await verify(client, unsigned)).toMatch(/^28000 jwt rejected: unknown_issuer/);
      });
      expect(json).toHaveLength(2);
      expect(json[0]).toMatchObject({ outcome: 'accepted', sub: hostileSub });
      expect(json[1]).toMatchObject({ outcome: 'rejected', code: 'unknown_issuer', iss: `i"\n${forgedLine}`, sub: 'y'.repeat(200), kid: `k\n${'x'.repeat(198)}` });
      // in the stderr log: exactly two lines carry the prefix, no raw control characters among them
      expect(stderr).toHaveLength(2);
      expect(raw).not.toContain('[1] LOG:  authdb audit {"outcome":"accepted"}');
      for (const line of stderr) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
      expect(stderr[0]).toContain('\\u2028');
    });
  });

  it('writes exactly one line per call, and every rejection stays SQLSTATE 28000, for mutated tokens', async () => {
    await atLevel('all', async (client) => {
      const good = await issuer.sign(kid, { sub: 'mallory' });
      // seeded mutations: a character replaced, removed or inserted, a part dropped or repeated
      let seed = 12345;
      const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
      const alphabet = 'AZaz09-_.=+/"\\\n{}';
      const tokens = Array.from({ length: 120 }, (_, i) => {
        const at = random(good.length);
        switch (i % 5) {
          case 0: return good.slice(0, at) + alphabet[random(alphabet.length)] + good.slice(at + 1);
          case 1: return good.slice(0, at) + good.slice(at + 1);
          case 2: return good.slice(0, at) + alphabet[random(alphabet.length)] + good.slice(at);
          case 3: return good.split('.').slice(0, random(3) + 1).join('.');
          default: return `${good}.${good.split('.')[random(3)]}`;
        }
      });
      const outcomes: string[] = [];
      const { json, stderr } = await auditLines(async () => {
        for (const token of tokens) outcomes.push(await verify(client, token));
      });
      for (const outcome of outcomes) expect(outcome).toMatch(/^(accepted|28000 jwt rejected: [a-z_]+)$/);
      expect(json).toHaveLength(tokens.length);
      expect(stderr).toHaveLength(tokens.length);
      json.forEach((line, i) => {
        expect(line.token).toBe(digest(tokens[i]!));
        expect(line.outcome === 'accepted' ? 'accepted' : `28000 jwt rejected: ${line.code}`).toBe(outcomes[i]);
      });
    });
  });

  it('never writes a token, nor its signature, to the log', async () => {
    // runs after the others: every token presented so far, at every level
    const logs = read(stderrLog()) + read(jsonLog());
    expect(presented.length).toBeGreaterThan(10);
    for (const token of presented.filter((t) => t.length > 40)) {
      expect(logs).not.toContain(token);
      const signature = token.split('.')[2];
      if (signature && signature.length > 16) expect(logs).not.toContain(signature);
      const payload = token.split('.')[1];
      if (payload && payload.length > 16) expect(logs).not.toContain(payload);
    }
  });

  describe('a session cannot lower a configured level', () => {
    async function rejectionsLogged(client: pg.Client, prepare: string[] = []): Promise<number> {
      const { json } = await auditLines(async () => {
        for (const sql of prepare) await client.query(sql);
        expect(await verify(client, 'x.y.z')).toMatch(/^28000 jwt rejected: malformed/);
      });
      return json.length;
    }

    it('by SET, set_config, RESET or SET LOCAL, under a database level', async () => {
      await atLevel('rejections', async (client) => {
        expect(await rejectionsLogged(client, ["SET authdb.audit = 'off'"])).toBe(1);
        expect(await rejectionsLogged(client, ["SELECT set_config('authdb.audit', '', false)"])).toBe(1);
        expect(await rejectionsLogged(client, ['RESET authdb.audit'])).toBe(1);
        // forging what the verification keeps changes nothing either: auth._audit_begin replaces it
        expect(await rejectionsLogged(client, ["SELECT set_config('authdb.audit_call', '0|', false)"])).toBe(1);
      });
    });

    it('from `all` to `rejections`: accepted tokens are still logged', async () => {
      await atLevel('all', async (client) => {
        const token = await issuer.sign(kid);
        const { json } = await auditLines(async () => {
          await client.query("SET authdb.audit = 'rejections'");
          expect(await verify(client, token)).toBe('accepted');
          expect(await verify(client, token)).toBe('accepted');
        });
        expect(json.map((l) => [l.outcome, l.path])).toEqual([['accepted', 'cold'], ['accepted', 'cached']]);
      });
    });

    it('by connection options', async () => {
      await atLevel('all', async (client) => {
        expect((await client.query("SELECT current_setting('authdb.audit') AS v")).rows[0].v).toBe('off');
        expect(await rejectionsLogged(client)).toBe(1);
      }, '-c authdb.audit=off');
    });

    it('under a level set for its login role, or for all roles', async () => {
      for (const target of [LOGIN, 'ALL']) {
        await admin.query(`ALTER ROLE ${target} SET authdb.audit = 'rejections'`);
        const client = await connect();
        try {
          expect(await rejectionsLogged(client, ["SET authdb.audit = 'off'"])).toBe(1);
        } finally {
          await client.end();
          await admin.query(`ALTER ROLE ${target} RESET authdb.audit`);
        }
      }
    });

    it('but may raise it for itself', async () => {
      const client = await connect();
      try {
        expect(await rejectionsLogged(client)).toBe(0);
        expect(await rejectionsLogged(client, ["SET authdb.audit = 'rejections'"])).toBe(1);
        const token = await issuer.sign(kid);
        const { json } = await auditLines(async () => {
          await client.query("SET authdb.audit = 'all'");
          expect(await verify(client, token)).toBe('accepted');
        });
        expect(json.map((l) => l.outcome)).toEqual(['accepted']);
      } finally {
        await client.end();
      }
    });

    it('a role level applies to the login role only, not to one taken with SET ROLE', async () => {
      // Postgres applies role settings at login; auth.verify runs as authenticated after SET ROLE
      await admin.query("ALTER ROLE authenticated SET authdb.audit = 'all'");
      const client = await connect();
      try {
        expect(await rejectionsLogged(client)).toBe(0);
      } finally {
        await client.end();
        await admin.query('ALTER ROLE authenticated RESET authdb.audit');
      }
    });
  });

  it('does not send the line to the client at the default client_min_messages; at `log` the client sees its own line', async () => {
    await atLevel('all', async (client) => {
      const notices: string[] = [];
      client.on('notice', (notice) => notices.push(notice.message ?? ''));
      const token = await issuer.sign(kid);
      expect(await verify(client, token)).toBe('accepted');
      expect(notices).toEqual([]);
      await client.query('SET client_min_messages = log');
      expect(await verify(client, token)).toBe('accepted');
      expect(notices).toHaveLength(1);
      expect(JSON.parse(notices[0]!.slice(PREFIX.length))).toMatchObject({ outcome: 'accepted', token: digest(token), path: 'cached' });
    });
  });

  it('works in a read-only transaction (no write: a hot standby can audit)', async () => {
    await atLevel('all', async (client) => {
      const token = await issuer.sign(kid);
      presented.push(token);
      const { json } = await auditLines(async () => {
        await client.query('BEGIN READ ONLY');
        await client.query('SET LOCAL ROLE authenticated');
        await client.query('SELECT auth.init($1)', [token]);
        await client.query('COMMIT');
      });
      expect(json.map((l) => l.outcome)).toEqual(['accepted']);
    });
  });

  it('audits on a hot standby, at the level configured on the primary', async () => {
    const standbyDir = serverTempDir('authdb-audit-standby-');
    runAsServerUserSync(join(DEBIAN_PG_BIN, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres',
      '-D', join(standbyDir, 'data'), '--write-recovery-conf', '--wal-method=stream', '--checkpoint=fast']);
    const standby = await startDebianCluster({ dir: standbyDir, dataDir: join(standbyDir, 'data') });
    const standbyAdmin = new pg.Pool({ connectionString: standby.url('app'), max: 1 });
    try {
      await databaseLevel('rejections');
      const deadline = Date.now() + 30_000;
      while ((await standbyAdmin.query("SELECT auth._audit_configured() AS level")).rows[0].level !== 1) {
        if (Date.now() > deadline) throw new Error('the standby did not replay the level within 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect((await standbyAdmin.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(true);
      const client = await connect(undefined, standby);
      try {
        const token = await issuer.sign(kid, { sub: 'grace' });
        const { json } = await auditLines(async () => {
          await client.query("SET authdb.audit = 'off'");
          expect(await verify(client, token)).toBe('accepted');
          expect(await verify(client, `${token}x`)).toMatch(/^28000 jwt rejected: malformed/);
        }, standby, standbyAdmin);
        expect(json).toEqual([{ outcome: 'rejected', code: 'malformed', iss: null, sub: null, kid: null, alg: null,
          token: digest(`${token}x`), pid: (client as unknown as { processID: number }).processID, path: 'cold' }]);
      } finally {
        await client.end();
      }
    } finally {
      await standbyAdmin.end();
      standby.destroy();
      await databaseLevel(null);
    }
  }, 120_000);

  it('leaves nothing of the verification readable in the transaction after it', async () => {
    await atLevel('all', async (client) => {
      const token = await issuer.sign(kid, { sub: 'frank' });
      presented.push(token);
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SELECT auth.verify($1)', [token]);
      const settings = await client.query<{ v: string | null }>(
        `SELECT current_setting(n, true) AS v FROM unnest(ARRAY['authdb.audit_call', 'authdb.audit_fields']) AS n`);
      expect(settings.rows.map((r) => r.v ?? '')).toEqual(['', '']);
      await client.query('COMMIT');
    });
  });

  it('writes what a session forged in its transaction-local settings only as null or an escaped string', async () => {
    // auth._audit_begin overwrites them when a verification starts; were the line ever written
    // from values a session set, nothing raw would reach the log
    const { json, stderr } = await auditLines(async () => {
      const client = await admin.connect();
      try {
        await client.query('BEGIN');
        await client.query("SELECT set_config('authdb.audit_call', $1, true)", ['2|x"\nLOG:  forged']);
        await client.query("SELECT set_config('authdb.audit_fields', $1, true)",
          [['"cold"', '"a\nb"', 'x\n"', '"k"}\n"', '{"alg":1}'].join(String.fromCharCode(30))]);
        await client.query("SELECT auth._audit_write('rejected', 'malformed')");
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    });
    expect(stderr).toHaveLength(1);
    expect(json).toEqual([{ outcome: 'rejected', code: 'malformed', iss: null, sub: null, kid: null, alg: null,
      token: 'x"\nLOG:  forged', pid: expect.any(Number), path: 'cold' }]);
  });

  it('keeps its internals from authenticated and anonymous', async () => {
    const { rows } = await admin.query<{ name: string; authenticated: boolean; anonymous: boolean }>(`
      SELECT p.oid::regprocedure::text AS name,
             has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated,
             has_function_privilege('anonymous', p.oid, 'EXECUTE') AS anonymous
        FROM pg_proc AS p WHERE p.pronamespace = 'auth'::regnamespace AND p.proname LIKE '\\_audit\\_%'`);
    expect(rows.length).toBeGreaterThanOrEqual(10);
    for (const row of rows) expect(row, row.name).toMatchObject({ authenticated: false, anonymous: false });
    const client = await connect();
    try {
      await client.query('SET ROLE authenticated');
      expect((await pgError(client.query("SELECT auth._audit_write('accepted', NULL)"))).code).toBe('42501');
    } finally {
      await client.end();
    }
  });
});
