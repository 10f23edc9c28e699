// `npm run bench:instructions`: what a request costs the backend in CPU instructions, counted by
// valgrind's callgrind on a single-user backend of Debian's PostgreSQL 15. Unlike throughput, the
// counts do not depend on what else the machine runs, so one run compares two versions of the SQL.
// Each figure is the difference of two runs of the same fresh backend (the same statements with and
// without the part measured), divided by how often that part ran:
//   warm request   BEGIN; SET LOCAL ROLE; SELECT auth.init(token); SELECT count(*) (RLS); COMMIT
//                  with a token this backend verified before, beside the plain-settings request
//   RLS statement  requests with their RLS `SELECT count(*)` against the same requests without it:
//                  the policy's first `(select auth.user_id())` in a transaction, which is what each
//                  request pays, against the plain-settings policy
// Every run starts with 8 warm requests (functions compiled, queries past the plan cache's five
// custom plans), and 40 requests measured give counts that repeat to within 0.1%.
//   cold request   a token new to the backend (a signature check), per algorithm
//   first request  the first request in a fresh backend, beside the plain-settings one
// Options: --keep DIR (reuse or create the prepared cluster there), --requests N (default 40),
// --warm-only (no cold or first requests).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { migrateUp } from '../src/migrate.js';
import { DEBIAN_PG_BIN, debianPgUnavailable, runAsServerUserSync, serverTempDir, startDebianCluster, type DebianCluster } from '../tools/pg-cluster.js';
import { ALGORITHMS, prepareDatabase, type Algorithm } from './per-request/setup.js';

/** The counts recorded in bench/baseline.json, printed beside this run's. */
interface BaselineCounts {
  warm: number;
  rls: number;
  cold: Partial<Record<Algorithm, number>>;
  first: Partial<Record<Algorithm, number>>;
}

function baselineCounts(): BaselineCounts | undefined {
  try {
    return (JSON.parse(readFileSync(new URL('./baseline.json', import.meta.url), 'utf8')) as { instructions?: BaselineCounts }).instructions;
  } catch {
    return undefined;
  }
}

const at = process.argv.indexOf('--requests');
const REQUESTS = at >= 0 ? Number(process.argv[at + 1]) : 40;
const keepAt = process.argv.indexOf('--keep');
const KEEP = keepAt >= 0 ? process.argv[keepAt + 1] : undefined;
const TOKENS = REQUESTS + 4;
const WARM_UP = 8;

const request = (alg: Algorithm, id: number) => [
  'BEGIN',
  'SET LOCAL ROLE authenticated',
  `SELECT auth.init(token) IS NOT NULL FROM public.bench_tokens WHERE alg = '${alg}' AND id = ${id}`,
  'SELECT count(*) FROM public.todos',
  'COMMIT',
];
/** The plain-settings request; `statements` RLS statements (0: the identity only). */
const plainRequest = (statements = 1) => [
  'BEGIN',
  'SET LOCAL ROLE authenticated',
  "SELECT set_config('request.jwt.claims', claims, true) FROM public.bench_tokens WHERE alg = 'RS256' AND id = 0",
  ...Array<string>(statements).fill('SELECT count(*) FROM public.todos_settings'),
  'COMMIT',
];
/** The authdb request without its RLS statement. */
const identityOnly = (alg: Algorithm, id: number) => request(alg, id).filter((line) => !line.startsWith('SELECT count'));
const repeat = (n: number, make: (i: number) => string[]) => Array.from({ length: n }, (_, i) => make(i)).flat();

/** Instructions a fresh single-user backend executes for these statements (startup included). */
function instructions(dataDir: string, dir: string, statements: string[]): number {
  const out = join(dir, `callgrind.${process.pid}.${Math.random().toString(36).slice(2)}`);
  runAsServerUserSync('/usr/bin/valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, join(DEBIAN_PG_BIN, 'postgres'), '--single', '-D', dataDir, 'postgres'],
    { input: `${statements.join('\n')}\n`, timeoutMs: 1_800_000 });
  const text = readFileSync(out, 'utf8');
  rmSync(out);
  const total = /^(?:summary|totals): (\d+)/m.exec(text)?.[1];
  if (!total) throw new Error('callgrind wrote no totals');
  return Number(total);
}

const k = (n: number) => `${(n / 1000).toFixed(0)}k`;

async function prepared(): Promise<{ cluster: DebianCluster; fresh: boolean }> {
  if (KEEP && existsSync(join(KEEP, 'data'))) {
    return { cluster: await startDebianCluster({ dir: KEEP, dataDir: join(KEEP, 'data') }), fresh: false };
  }
  if (KEEP) {
    mkdirSync(KEEP, { recursive: true });
    // the cluster's folder belongs to the `postgres` OS user, which the server runs as
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres', KEEP]);
  }
  return { cluster: await startDebianCluster({ dir: KEEP ?? serverTempDir('authdb-bench-'), settings: { autovacuum: 'off' } }), fresh: true };
}

async function main(): Promise<void> {
  const unavailable = debianPgUnavailable();
  if (unavailable) throw new Error(unavailable);
  const { cluster, fresh } = await prepared();
  try {
    const admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    if (fresh) await prepareDatabase(admin, TOKENS);
    else await migrateUp(admin);
    await admin.query('CHECKPOINT');
    await admin.end();
    cluster.stop();
    const run = (statements: string[]) => instructions(cluster.dataDir, cluster.dir, statements);
    const n = REQUESTS;
    const rows: [string, string, string, string][] = [];
    const before = baselineCounts();
    const was = (count: number | undefined) => (count === undefined ? '' : k(count));

    // Warm-up requests first: a query's first five executions in a backend get a plan of their own
    // (the plan cache's custom plans), later ones share the generic plan.
    const warmUp = repeat(WARM_UP, () => request('RS256', 0));
    const plainWarmUp = repeat(WARM_UP, () => plainRequest());
    const warmRequests = run([...warmUp, ...repeat(n, () => request('RS256', 0))]);
    const plainRequests = run([...plainWarmUp, ...repeat(n, () => plainRequest())]);
    const warm = (warmRequests - run(warmUp)) / n;
    const plain = (plainRequests - run(plainWarmUp)) / n;
    rows.push(['warm request', was(before?.warm), k(warm), `plain settings ${k(plain)} (${(plain / warm).toFixed(2)}×)`]);

    // The RLS statement of a request: requests with it against requests without it (the first
    // policy check of a transaction: what each request pays).
    const stmt = (warmRequests - run([...warmUp, ...repeat(n, () => identityOnly('RS256', 0))])) / n;
    const plainStmt = (plainRequests - run([...plainWarmUp, ...repeat(n, () => plainRequest(0))])) / n;
    rows.push(['RLS count(*), (select auth.user_id())', was(before?.rls), k(stmt), `plain-settings policy ${k(plainStmt)} (${(stmt / plainStmt).toFixed(2)}× the instructions)`]);

    const startup = run(plainRequest());
    for (const alg of process.argv.includes('--warm-only') ? [] : ALGORITHMS) {
      const first = run(request(alg, 1)) - startup;
      const base = run([...request(alg, 1), ...request(alg, 1)]);
      const cold = (run([...request(alg, 1), ...request(alg, 1), ...repeat(Math.min(n, 8), (i) => request(alg, i + 2))]) - base) / Math.min(n, 8);
      rows.push([`${alg}: cold request`, was(before?.cold[alg]), k(cold), '']);
      rows.push([`${alg}: first request in a fresh backend`, was(before?.first[alg]), k(first), 'over a plain first request']);
    }
    console.log(`instructions per request (callgrind, single-user backend, Debian PostgreSQL 15, ${n} requests); before: bench/baseline.json`);
    console.log(`${''.padEnd(40)} ${'before'.padStart(8)} ${'now'.padStart(8)}`);
    for (const [what, then, count, beside] of rows) console.log(`${what.padEnd(40)} ${then.padStart(8)} ${count.padStart(8)}   ${beside}`);
  } finally {
    if (!KEEP) cluster.destroy();
    else {
      try {
        cluster.stop();
      } catch {
        // already stopped for the measurements
      }
    }
  }
}

try {
  await main();
} catch (error) {
  console.error(`bench: ${(error as Error).message}`);
  process.exit(1);
}
