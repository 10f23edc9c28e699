// The CLI contract, through the built binary (`node dist/cli/authdb.js`) on a real Postgres: help
// for every command, the one-line failure path (exit 1; exit 2 for usage; never a stack trace;
// `--json` errors as {"error":{code,message,hint}}), the connect timeout, `verify`, `dev token`
// and `dev sql`.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDevDatabase } from '../src/dev.js';
import { authdb, expectOneLineError, jsonOutput, startAuthdb, type CliResult } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';
import { qualify } from '../src/schema.js';
import { TEST_SCHEMA } from './support/schema.js';

interface ErrorBody {
  error: { code: string; message: string; hint: string };
}

function expectJsonError(result: CliResult, exitCode: number, code: string): ErrorBody['error'] {
  expect(result.code, result.stderr).toBe(exitCode);
  const body = jsonOutput<ErrorBody>(result);
  expect(body.error).toEqual({ code, message: expect.any(String), hint: expect.any(String) });
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.hint.length).toBeGreaterThan(0);
  return body.error;
}

/** Runs `fn` over `items`, two at a time (the machine's cores; each item spawns a node process). */
async function twoAtATime<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all([0, 1].map(async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

/** Every command that talks to a database, with arguments that would otherwise be valid. */
const DATABASE_COMMANDS: string[][] = [
  ['migrate'],
  ['migrate', 'status'],
  ['migrate', 'down', '--count', '1'],
  ['provider', 'list'],
  ['provider', 'remove', 'acme'],
  ['provider', 'add', 'acme', '--issuer', 'https://acme.example', '--jwks-url', 'https://acme.example/jwks.json'],
  ['keys', 'list'],
  ['keys', 'revoke', 'some-kid'],
  ['verify', 'a.b.c'],
  ['sync-jwks'],
  ['doctor'],
  ['seal', 'rotate'],
];

let db: TestDatabase;
let devDir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  devDir = mkdtempSync(join(tmpdir(), 'authdb-cli-test-'));
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await prepareDevDatabase(client, { dir: devDir });
  } finally {
    await client.end();
  }
});
afterAll(async () => {
  await db?.drop();
  if (devDir) rmSync(devDir, { recursive: true, force: true });
});

describe('help', () => {
  /** The subcommands a help page lists under "Commands:". */
  function subcommands(help: string): string[] {
    const section = (help.split(/^Commands:$/m)[1] ?? '').split(/\n\s*\n/)[0]!;
    return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((name) => name !== 'help');
  }

  it('every command and subcommand has --help that exits 0 and names its options, each with a description', async () => {
    const seen: string[] = [];
    const visit = async (path: string[]): Promise<void> => {
      const result = await authdb([...path, '--help']);
      expect(result.code, `${path.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(new RegExp(`^Usage: authdb${path.map((p) => ` ${p}`).join('')} `));
      expect(result.stdout).toContain('-h, --help');
      // every option line has a description
      for (const line of result.stdout.split('\n').filter((l) => /^ {2}-/.test(l))) expect(line, path.join(' ')).toMatch(/^ {2}\S.*\S {2,}\S/);
      seen.push(path.join(' '));
      const children = subcommands(result.stdout);
      if (['dev', 'dev token', 'dev sql', 'verify'].includes(path.join(' '))) expect(result.stdout, path.join(' ')).toMatch(/Examples:/);
      for (const child of children) await visit([...path, child]);
    };
    await visit([]);
    expect(seen.sort()).toEqual(expect.arrayContaining([
      '', 'migrate', 'migrate status', 'migrate down', 'provider add', 'provider list', 'provider remove', 'keys list',
      'keys add', 'keys revoke', 'verify', 'dev', 'dev token', 'dev sql', 'sync-jwks', 'bundle', 'doctor',
    ]));
  });

  it('the root help names the global options: connection, connect timeout, --json, --verbose; and the exit statuses', async () => {
    const { stdout } = await authdb(['--help']);
    for (const option of ['--database-url <url>', '--connect-timeout <seconds>', '--json', '--verbose', '--version']) expect(stdout).toContain(option);
    expect(stdout).toMatch(/PGCONNECT_TIMEOUT, else 10/);
    expect(stdout).toMatch(/2 usage error/);
    const version = await authdb(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('usage errors: exit 2, one line, no stack trace', () => {
  const cases: [string, string[], RegExp][] = [
    ['a port that is not a number', ['dev', '--port', 'abc'], /--port <port>.*'abc' is invalid.*port number/],
    ['a port out of range', ['dev', '--port', '70000'], /port number from 1 to 65535/],
    ['a zero ttl', ['dev', 'token', '--ttl', '0'], /--ttl <seconds>.*whole number/],
    ['a fractional ttl', ['dev', 'token', '--ttl', '1.5'], /--ttl/],
    ['a ttl that is not a number', ['dev', 'token', '--ttl', '1h'], /--ttl/],
    ['a count that is not a number', ['migrate', 'down', '--count', 'x'], /--count/],
    ['a negative count', ['migrate', 'down', '--count', '-1'], /--count/],
    ['a claim without a value', ['dev', 'token', '--claim', 'novalue'], /NAME=VALUE/],
    ['a claim without a name', ['dev', 'sql', '--as', 'alice', '--claim', '=acme', 'select 1'], /NAME=VALUE/],
    ['a bad connect timeout', ['--connect-timeout', 'soon', 'migrate', 'status'], /--connect-timeout/],
    ['a format not offered', ['bundle', '--format', 'zip', '--out', 'x'], /--format.*zip/],
    ['a missing argument', ['verify'], /missing required argument 'jwt'/],
    ['an unknown command', ['migrat'], /unknown command 'migrat'/],
    ['an unknown option', ['migrate', '--sideways'], /unknown option '--sideways'/],
    ['a missing required option', ['dev', 'sql', 'select 1'], /--as <sub>/],
  ];

  it.each(cases)('%s', async (_name, args, pattern) => {
    const result = await authdb(args);
    expectOneLineError(result, 2, pattern);
    expect(result.stderr).toMatch(/^authdb: /);
    expect(result.stdout).toBe('');
  });

  it('with --json, the same errors print {"error":{"code":"usage",…}} on stdout', async () => {
    await twoAtATime(cases, async ([, args]) => {
      const result = await authdb([...args, '--json']);
      expectJsonError(result, 2, 'usage');
      expectOneLineError(result, 2);
    });
  });

  it('an invalid PGCONNECT_TIMEOUT is a usage error too', async () => {
    const result = await authdb(['migrate', 'status', '--database-url', 'postgres://127.0.0.1:1/x'], { env: { PGCONNECT_TIMEOUT: 'later' } });
    expectOneLineError(result, 2, /PGCONNECT_TIMEOUT 'later' is invalid/);
  });
});

describe('no database given', () => {
  it('every database command fails with one line pointing at `authdb dev` (exit 1), and --json says no_database', async () => {
    await twoAtATime(DATABASE_COMMANDS, async (args) => {
      const result = await authdb(args);
      expectOneLineError(result, 1, /no database given: pass --database-url.*DATABASE_URL.*authdb dev/);
      const json = await authdb([...args, '--json']);
      expect(expectJsonError(json, 1, 'no_database').hint).toMatch(/authdb dev/);
    });
  });
});

describe('connect timeout', () => {
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    // accepts every connection and never says a word, like a black-holing proxy
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('every database command gives up after --connect-timeout with one line naming the server, not the password', async () => {
    const url = `postgres://admin:hunter2@127.0.0.1:${silentPort}/app`;
    await twoAtATime(DATABASE_COMMANDS, async (args) => {
      const started = Date.now();
      const result = await authdb([...args, '--database-url', url, '--connect-timeout', '1']);
      const elapsed = Date.now() - started;
      expectOneLineError(result, 1, new RegExp(`no answer from 127\\.0\\.0\\.1:${silentPort} within 1 s`));
      expect(result.stderr + result.stdout).not.toContain('hunter2');
      // the timeout plus node's start-up (slow on a busy machine); without it the process never ends
      expect(elapsed, args.join(' ')).toBeLessThan(30_000);
    });
  });

  it('PGCONNECT_TIMEOUT sets it when the flag is absent; --json reports connect_timeout', async () => {
    const started = Date.now();
    const result = await authdb(['migrate', 'status', '--json', '--database-url', `postgres://127.0.0.1:${silentPort}/app`], { env: { PGCONNECT_TIMEOUT: '2' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(expectJsonError(result, 1, 'connect_timeout').message).toMatch(/within 2 s/);
  });

  it('a refused connection is connect_failed, at once', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await authdb(['keys', 'list', '--json', '--database-url', `postgres://127.0.0.1:${port}/app`]);
    expect(expectJsonError(result, 1, 'connect_failed').message).toMatch(/could not connect to 127\.0\.0\.1/);
    expectOneLineError(result, 1, /ECONNREFUSED/);
  });
});

describe('other failures', () => {
  it('a database without authdb: one line, not_installed with the fix; --verbose adds SQLSTATE and the stack', async () => {
    const empty = await createTestDatabase({ empty: true });
    try {
      const result = await authdb(['verify', 'a.b.c', '--database-url', empty.url, '--json']);
      expect(expectJsonError(result, 1, 'not_installed').hint).toMatch(/authdb migrate/);
      expectOneLineError(result, 1, /schema "auth" does not exist/);
      const verbose = await authdb(['verify', 'a.b.c', '--database-url', empty.url, '--verbose']);
      expect(verbose.code).toBe(1);
      expect(verbose.stderr.split('\n')[0]).toBe('authdb: schema "auth" does not exist');
      expect(verbose.stderr).toMatch(/code: 3F000/);
      expect(verbose.stderr).toMatch(/^\s+at /m);
    } finally {
      await empty.drop();
    }
  });

  it('a closed pipe on stdout (`bundle --out - | head`) ends quietly: exit 0, nothing on stderr', async () => {
    const run = startAuthdb(['bundle', '--format', 'sql', '--out', '-']);
    run.child.stdout.once('data', () => run.child.stdout.destroy());
    const { code, stderr } = await run.done;
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('verify', () => {
  let issuer: TestIssuer;
  let kid: string;

  beforeAll(async () => {
    issuer = await TestIssuer.create(db.pool, 'cli-verify', { audiences: ['api'] });
    kid = await issuer.addKey('ES256');
  });

  it('a valid token: its claims as JSON on stdout, exit 0; from stdin with -', async () => {
    const token = await issuer.sign(kid, { sub: 'alice' });
    const result = await authdb(['verify', token, '--database-url', db.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonOutput(result)).toMatchObject({ sub: 'alice', iss: issuer.issuer });
    const piped = await authdb(['verify', '-', '--database-url', db.url, '--json'], { input: `${token}\n` });
    expect(jsonOutput(piped)).toMatchObject({ valid: true, claims: { sub: 'alice' } });
    const empty = await authdb(['verify', '-', '--database-url', db.url], { input: '' });
    expectOneLineError(empty, 2, /no token given/);
  });

  it('a rejected token: one line with the code and DETAIL, never the token, exit 1', async () => {
    const token = await issuer.sign(kid, { sub: 'alice', exp: Math.floor(Date.now() / 1000) - 3600 });
    const result = await authdb(['verify', token, '--database-url', db.url]);
    expectOneLineError(result, 1, /^authdb: jwt rejected: expired \(.+\)$/m);
    expect(result.stdout).toBe('');
    for (const part of token.split('.')) expect(result.stderr).not.toContain(part);
  });

  it('a rejected token with --json: valid false, code, detail and the error object, as one document', async () => {
    const token = await issuer.sign(kid, { sub: 'alice', aud: 'other-api' });
    const result = await authdb(['verify', token, '--database-url', db.url, '--json']);
    expect(result.code).toBe(1);
    const body = jsonOutput<{ valid: boolean; code: string; detail: string } & ErrorBody>(result);
    expect(body).toMatchObject({ valid: false, code: 'audience_mismatch' });
    expect(body.error).toMatchObject({ code: 'jwt_rejected', message: expect.stringMatching(/^jwt rejected: audience_mismatch/) });
    expect(body.error.hint).toMatch(/audience_mismatch/);
  });

  it('control characters a token carries into DETAIL are printed escaped', async () => {
    const token = await issuer.sign(kid, { sub: 'alice', aud: 'evil\u001b[2J\nsecond line' });
    const result = await authdb(['verify', token, '--database-url', db.url]);
    expectOneLineError(result, 1, /jwt rejected: audience_mismatch/);
    expect(result.stderr.trimEnd()).not.toMatch(/[\u0000-\u001f]/);
  });
});

describe('dev token', () => {
  it('--sub, typed --claim values and --ttl end up in the token; --json wraps it', async () => {
    const result = await authdb(['dev', 'token', '--dir', devDir, '--sub', 'carol', '--claim', 'tenant_id=acme', '--claim', 'roles=["admin"]', '--claim', 'level=3', '--claim', 'note=a=b', '--ttl', '600', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const { token, sub, expiresInSeconds } = jsonOutput<{ token: string; sub: string; expiresInSeconds: number }>(result);
    expect({ sub, expiresInSeconds }).toEqual({ sub: 'carol', expiresInSeconds: 600 });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ sub: 'carol', tenant_id: 'acme', roles: ['admin'], level: 3, note: 'a=b', iss: 'https://authdb.dev.localhost', aud: 'authdb-dev' });
    expect(claims.exp! - claims.iat!).toBe(600);
    // the database that registered the dev issuer accepts it
    const verified = await authdb(['verify', token, '--database-url', db.url]);
    expect(jsonOutput(verified)).toMatchObject({ sub: 'carol', tenant_id: 'acme' });
  });

  it('prints only the token without --json (for TOKEN=$(authdb dev token))', async () => {
    const result = await authdb(['dev', 'token', '--dir', devDir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodeJwt(result.stdout.trim()).sub).toBe('alice');
  });
});

describe('dev sql', () => {
  const sql = (args: string[]) => authdb(['dev', 'sql', '--dir', devDir, '--database-url', db.url, ...args]);

  it('runs a query as the user: each sees only their own rows', async () => {
    const alice = await sql(['--as', 'alice', 'select title from todos order by id']);
    expect(alice.code, alice.stderr).toBe(0);
    expect(alice.stdout).toBe('title\n--------------\ntry authdb dev\nwrite a policy\n(2 rows)\n');
    const bob = await sql(['--as', 'bob', '--json', qualify('select title, auth.user_id() as me from todos', TEST_SCHEMA)]);
    expect(jsonOutput(bob)).toEqual({ sub: 'bob', committed: false, results: [{ command: 'SELECT', rowCount: 1, fields: ['title', 'me'], rows: [{ title: 'read the quick start', me: 'bob' }] }] });
  });

  it('passes extra claims, and rolls back unless --commit', async () => {
    const claims = await sql(['--as', 'carol', '--claim', 'tenant_id=acme', '--json', qualify("select auth.session()->>'tenant_id' as tenant", TEST_SCHEMA)]);
    expect(jsonOutput<{ results: { rows: unknown[] }[] }>(claims).results[0]!.rows).toEqual([{ tenant: 'acme' }]);
    const tried = await sql(['--as', 'carol', "insert into todos (title) values ('tried')"]);
    expect(tried.code, tried.stderr).toBe(0);
    expect(tried.stdout).toBe('INSERT 1\n');
    expect(tried.stderr).toMatch(/rolled back/);
    const kept = await sql(['--as', 'carol', '--commit', "insert into todos (title) values ('kept')"]);
    expect(kept.code).toBe(0);
    const { rows } = await db.pool.query("SELECT user_id, title FROM todos WHERE user_id = 'carol'");
    expect(rows).toEqual([{ user_id: 'carol', title: 'kept' }]);
  });

  it('a policy that says no: one line, exit 1', async () => {
    const result = await sql(['--as', 'alice', "insert into todos (user_id, title) values ('bob', 'not mine')"]);
    expectOneLineError(result, 1, /new row violates row-level security policy for table "todos"/);
    const json = await sql(['--as', 'alice', '--json', "insert into todos (user_id, title) values ('bob', 'not mine')"]);
    expectJsonError(json, 1, 'permission_denied');
  });

  it('without a running `authdb dev`, says so in one line', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await authdb(['dev', '--dir', devDir, '--port', String(port), 'sql', '--as', 'alice', 'select 1']);
    expectOneLineError(result, 1, new RegExp(`no authdb dev server on 127\\.0\\.0\\.1:${port}`));
  });
});
