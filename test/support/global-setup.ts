// Starts one Postgres for the whole run and migrates a template database; each test file then
// gets its own database cloned from it (CREATE DATABASE … TEMPLATE), which takes milliseconds.
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateUp } from '../../src/migrate.js';
import { startTestServer } from './server.js';
import { databaseUrl, TEMPLATE_DATABASE } from './urls.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startTestServer();
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE}`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();
  const template = new pg.Client({ connectionString: databaseUrl(server.adminUrl, TEMPLATE_DATABASE) });
  await template.connect();
  try {
    await migrateUp(template);
  } finally {
    await template.end();
  }
  project.provide('adminUrl', server.adminUrl);
  console.log(`authdb tests: Postgres (${server.kind})`);
  return async () => server.stop();
}
