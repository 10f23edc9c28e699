// Starts one Postgres for the whole run and migrates a template database; each test file then
// gets its own database cloned from it (CREATE DATABASE … TEMPLATE), which takes milliseconds.
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateUp } from '../../src/migrate.js';
import { TEST_SCHEMA } from './schema.js';
import { startTestServer } from './server.js';
import { databaseUrl, TEMPLATE_DATABASE } from './urls.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    /** server_version_num of the server the run uses, e.g. 140023. */
    serverVersionNum: number;
  }
}

export default async function setup(project: TestProject) {
  const server = await startTestServer();
  let versionNum: number;
  let versionText: string;
  try {
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    const version = await admin.query<{ num: string; text: string }>(
      "SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS text");
    const row = version.rows[0]!;
    versionNum = Number(row.num);
    if (server.expectedMajor !== undefined && Math.floor(versionNum / 10000) !== server.expectedMajor) {
      await admin.end();
      throw new Error(`asked for Postgres ${server.expectedMajor}, but the server is ${row.text}`);
    }
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE}`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
    await admin.end();
    const template = new pg.Client({ connectionString: databaseUrl(server.adminUrl, TEMPLATE_DATABASE) });
    await template.connect();
    try {
      await migrateUp(template, { schema: TEST_SCHEMA });
    } finally {
      await template.end();
    }
    versionText = row.text;
  } catch (error) {
    await server.stop().catch(() => undefined);
    throw error;
  }
  project.provide('adminUrl', server.adminUrl);
  project.provide('serverVersionNum', versionNum);
  console.log(`authdb tests: Postgres ${versionText} (${server.kind}), authdb in schema ${TEST_SCHEMA}`);
  return async () => server.stop();
}
