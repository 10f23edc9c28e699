// The SQL internals' unit tests, written in pgTAP (test/pgtap/*.sql): each file tests one area's
// internal functions directly (base64url, rejection, HMAC, JWS parsing, claims, field arithmetic,
// key readers, privileges) in a transaction it rolls back. pgTAP is installed for Debian's PostgreSQL 15 only,
// so this file starts such a cluster, installs authdb with `migrateUp`, runs each file with psql
// and reads its TAP output: one vitest test per file, failing with the TAP lines that failed.
// With AUTHDB_TEST_SCHEMA the files are installed into and run against that schema (`qualify`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateUp } from '../src/migrate.js';
import { qualify } from '../src/schema.js';
import { DEBIAN_PG_BIN, debianPgUnavailable, startDebianCluster, type DebianCluster } from '../tools/pg-cluster.js';
import { extensionDir } from './support/extension-dir.js';
import { TEST_SCHEMA } from './support/schema.js';
import { createAppDatabase } from './support/server.js';

const PGTAP_DIR = fileURLToPath(new URL('./pgtap/', import.meta.url));
/** The test files; names starting with `_` are included by the others (`\ir _setup.sql`). */
const files = readdirSync(PGTAP_DIR).filter((name) => name.endsWith('.sql') && !name.startsWith('_')).sort();

function pgtapUnavailable(): string | null {
  const reason = debianPgUnavailable();
  if (reason) return reason;
  if (!existsSync(join(extensionDir(), 'pgtap.control'))) {
    return `pgTAP is not installed for Debian's PostgreSQL 15: apt-get install postgresql-15-pgtap`;
  }
  return null;
}

const unavailable = pgtapUnavailable();
if (unavailable && process.env.CI) throw new Error(`CI needs Debian's PostgreSQL 15 with pgTAP: ${unavailable}`);
if (unavailable) console.warn(`pgTAP tests skipped: ${unavailable}`);

/**
 * What went wrong in one file's TAP output: each `not ok` line with the diagnostics below it, a
 * missing plan, a count of results other than the plan, and psql's error when the file stopped.
 */
function tapFailures(output: string, exitCode: number | null, stderr: string): string[] {
  const lines = output.split('\n');
  const failures: string[] = [];
  let planned: number | undefined;
  let ran = 0;
  let failing = false;
  for (const line of lines) {
    const plan = /^1\.\.(\d+)$/.exec(line);
    if (plan) planned = Number(plan[1]);
    const result = /^(not )?ok \d+/.exec(line);
    if (result) {
      ran += 1;
      failing = result[1] !== undefined;
    } else if (!line.startsWith('#')) {
      failing = false;
    }
    // a failing result, and the diagnostics pgTAP writes below it
    if (failing) failures.push(line);
  }
  if (planned === undefined) failures.push('no plan: the file must SELECT plan(n) before its tests');
  else if (ran !== planned) failures.push(`planned ${planned} tests but ran ${ran}`);
  if (exitCode !== 0) failures.push(`psql exited with ${exitCode}`);
  if (failures.length && stderr.trim()) failures.push(...stderr.trim().split('\n'));
  return failures;
}

describe.skipIf(unavailable !== null)(`pgTAP unit tests of the SQL internals (schema ${TEST_SCHEMA})`, () => {
  let cluster: DebianCluster;
  /** The test files, qualified for TEST_SCHEMA, so that `\ir` finds the copies beside them. */
  let copies: string;

  beforeAll(async () => {
    cluster = await startDebianCluster();
    await createAppDatabase(cluster);
    const client = new pg.Client({ connectionString: cluster.url('app') });
    await client.connect();
    try {
      await migrateUp(client, { schema: TEST_SCHEMA });
      await client.query('CREATE EXTENSION pgtap');
    } finally {
      await client.end();
    }
    copies = mkdtempSync(join(tmpdir(), 'authdb-pgtap-'));
    for (const name of readdirSync(PGTAP_DIR).filter((n) => n.endsWith('.sql'))) {
      writeFileSync(join(copies, name), qualify(readFileSync(join(PGTAP_DIR, name), 'utf8'), TEST_SCHEMA));
    }
  }, 120_000);

  afterAll(() => {
    cluster?.destroy();
    if (copies) rmSync(copies, { recursive: true, force: true });
  });

  for (const file of files) {
    it(file, () => {
      const args = ['--no-psqlrc', '--set', 'ON_ERROR_STOP=1', '--dbname', cluster.url('app'), '--file', join(copies, file)];
      const psql = spawnSync(join(DEBIAN_PG_BIN, 'psql'), args, {
        encoding: 'utf8',
        env: { ...process.env, PGCLIENTENCODING: 'UTF8', LC_ALL: 'C', LC_MESSAGES: 'C' },
        timeout: 60_000,
      });
      if (psql.error) throw psql.error;
      expect(tapFailures(psql.stdout, psql.status, psql.stderr), `${file}: failing TAP lines`).toEqual([]);
    });
  }
});
