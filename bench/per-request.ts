// `npm run bench`: first the server-side loop bench (bench/run.ts: µs per token, many tokens
// verified inside one transaction on a warmed backend), then what an application sees per request:
// pgbench transactions of the request shape
//   BEGIN; SET LOCAL ROLE authenticated; SELECT auth.init(token); SELECT count(*) FROM todos; COMMIT
// (todos behind auth.policy_owner: `(select auth.user_id())`) beside the PostgREST/Supabase shape on
// the same data in the same run (claims put in a plain setting, a policy reading it, nothing verified
// in the database), as the ratio of throughputs: warm token, new token, new connection per request,
// per algorithm; the first auth.init in a fresh backend; the cost per statement (pgbench -r).
//
// Options (or environment): --per-request-only (AUTHDB_BENCH_PER_REQUEST_ONLY=1) skips the loop
// bench; --worst-case runs only bench/run.ts's worst-case section; --seconds N (AUTHDB_BENCH_SECONDS, default 6) per pgbench run; --clients N
// (AUTHDB_BENCH_CLIENTS, default 2); --trials N (AUTHDB_BENCH_TRIALS, default 7) fresh backends per
// algorithm; --keep sets everything up, prints how to run the shapes by hand (for a profiler) and
// waits for Ctrl-C; --save-baseline writes this run's figures to bench/baseline.json.
// Every table prints, beside the live figures, those of bench/baseline.json ("before"): the run it
// records names its date and commit.
// --revocation runs only bench/revocation.ts (the revocation check with 100,000 entries).
// Measured on Debian's PostgreSQL 15 server package (a production build) in a temporary folder.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { DEBIAN_PG_BIN, debianPgUnavailable, startDebianCluster } from '../tools/pg-cluster.js';
import { firstCall, median, withAuthRoundTrips, type FirstCall } from './per-request/first-call.js';
import { authdbScript, pgbench, plainSettingsScript, type PgbenchOptions, type PgbenchTarget, type TokenMode } from './per-request/pgbench.js';
import { ALGORITHMS, APP_ROLE, checkShapes, prepareDatabase, ROWS, USERS, type Algorithm } from './per-request/setup.js';
import { revocationBench } from './revocation.js';

/** Tokens per algorithm the cold shape walks through; first-call trials use the ones after them. */
const COLD_TOKENS = 1000;

// The issue's targets, as ratios to the plain-settings shape of the same run.
const WARM_TARGET = 0.7;
const COLD_TARGET: Partial<Record<Algorithm, number>> = { RS256: 0.35, PS256: 0.3, ES256: 0.18, EdDSA: 0.2 };
const FIRST_CALL_TARGET_MS: Partial<Record<Algorithm, number>> = { RS256: 10, ES256: 15, EdDSA: 15 };
const STATEMENT_TARGET = 1.15;
const ROUND_TRIPS_TARGET = 2;

// The figures the issue started from (authdb 0.1.0 on a quiet machine, the same shapes), printed
// in the "issue" column beside this run's. It gave one warm figure, for RS256.
const ISSUE = {
  ratios: {
    warm: { RS256: 0.44 },
    cold: { RS256: 0.135, ES256: 0.079, EdDSA: 0.109 },
    connect: { RS256: 0.54, EdDSA: 0.46 },
  } as Record<'warm' | 'cold' | 'connect', Partial<Record<Algorithm, number>>>,
  firstCallMs: { RS256: '36', ES256: '45–50', EdDSA: '45–50' } as Partial<Record<Algorithm, string>>,
  initStatementRatio: 0.34 / 0.077,  // warm auth.init 0.34 ms against set_config's 0.077 ms
  rlsStatementRatio: 2.7,
  withAuthRoundTrips: 4,
};

function option(flag: string, env: string, fallback: number): number {
  const at = process.argv.indexOf(flag);
  const raw = at >= 0 ? process.argv[at + 1] : process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`bench: ${flag} (${env}) must be a positive integer, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const settings = {
  perRequestOnly: process.argv.includes('--per-request-only') || process.env.AUTHDB_BENCH_PER_REQUEST_ONLY === '1',
  keep: process.argv.includes('--keep'),
  worstCaseOnly: process.argv.includes('--worst-case'),
  seconds: option('--seconds', 'AUTHDB_BENCH_SECONDS', 6),
  clients: option('--clients', 'AUTHDB_BENCH_CLIENTS', 2),
  trials: option('--trials', 'AUTHDB_BENCH_TRIALS', 7),
  saveBaseline: process.argv.includes('--save-baseline'),
};

/** The figures of an earlier run (bench/baseline.json), printed beside the live ones. */
interface Baseline {
  about: string;
  date: string;
  commit: string;
  ratios: Record<'warm' | 'cold' | 'connect', Partial<Record<Algorithm, number>>>;
  firstCallMs: Partial<Record<Algorithm, number>>;
  statementMs: { init: number; setConfig: number; rls: number; plainRls: number };
  withAuthRoundTrips: number;
}

const BASELINE_FILE = fileURLToPath(new URL('./baseline.json', import.meta.url));

function readBaseline(): Baseline | undefined {
  try {
    return JSON.parse(readFileSync(BASELINE_FILE, 'utf8')) as Baseline;
  } catch {
    return undefined;
  }
}

const SHAPE_KEYS: Record<string, keyof Baseline['ratios']> = {
  'warm token': 'warm', 'new token (cold)': 'cold', 'new connection per request': 'connect',
};

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const ratio = (value: number) => `${value.toFixed(2)}×`;
const met = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? 'yes' : 'NO');
const progress = (text: string) => process.stderr.write(`bench: ${text}\n`);

interface Row {
  shape: string;
  alg: Algorithm;
  tps: number;
  /** The plain-settings shape's tps just before and just after. */
  plain: [number, number];
  /** Backend CPU µs per request, of this shape and of those two plain-settings runs. */
  cpu: number;
  plainCpu: [number, number];
  target?: number;
}

/** bench/run.ts in a child process; `--worst-case` passes through (that section only). */
function runLoopBench(worstCaseOnly: boolean): void {
  const loop = fileURLToPath(new URL('./run.ts', import.meta.url));
  const child = spawnSync(process.execPath, ['--import', 'tsx', loop, ...(worstCaseOnly ? ['--worst-case'] : [])], { stdio: 'inherit' });
  if (child.status !== 0) {
    console.error(`bench: the loop bench (bench/run.ts) failed (exit ${child.status ?? child.signal})`);
    process.exit(1);
  }
  console.log('');
}

async function keepForProfiling(target: PgbenchTarget, url: string, dataDir: string): Promise<void> {
  const scripts: Record<string, string> = { 'plain-settings': plainSettingsScript() };
  for (const alg of ALGORITHMS) {
    for (const mode of ['warm', 'cold'] as TokenMode[]) scripts[`${alg}-${mode}`] = authdbScript(alg, mode, settings.clients, COLD_TOKENS);
  }
  for (const [name, script] of Object.entries(scripts)) writeFileSync(join(target.dir, `${name}.sql`), script);
  console.log(`cluster: ${url} (app role ${APP_ROLE}); scripts in ${target.dir}:`);
  console.log(`  ${Object.keys(scripts).join(' ')}`);
  console.log(`run one: ${join(DEBIAN_PG_BIN, 'pgbench')} -n -h ${target.host} -p ${target.port} -U ${APP_ROLE} -c 1 -T 60 -D n=0 -f ${join(target.dir, 'RS256-warm.sql')} ${target.database}`);
  console.log(`data directory: ${dataDir} (CHECKPOINT, then copy it for a single-user backend under callgrind)`);
  console.log('profile its backend: perf record -g -p <pid from pg_stat_activity>; Ctrl-C here stops the cluster');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

async function main(): Promise<void> {
  const unavailable = debianPgUnavailable();
  if (unavailable) {
    console.error(`bench: ${unavailable}`);
    process.exit(1);
  }
  if (settings.worstCaseOnly) return runLoopBench(true);
  if (process.argv.includes('--revocation')) return revocationBench();
  if (!settings.perRequestOnly && !settings.keep) runLoopBench(false);

  // the data does not change after the set-up's VACUUM: no autovacuum worker's CPU in the figures
  const cluster = await startDebianCluster({ settings: { shared_buffers: '256MB', max_connections: '50', autovacuum: 'off' } });
  const admin = new pg.Client({ connectionString: cluster.url() });
  const appUrl = `postgres://${APP_ROLE}@${cluster.host}:${cluster.port}/postgres`;
  const target: PgbenchTarget = {
    host: cluster.host, port: cluster.port, database: 'postgres', dir: mkdtempSync(join(tmpdir(), 'authdb-bench-scripts-')),
    postmasterPid: Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]),
  };
  try {
    await admin.connect();
    const version = (await admin.query('SHOW server_version')).rows[0].server_version as string;
    progress(`setting up: ${ROWS.toLocaleString('en')} rows, ${USERS.toLocaleString('en')} users, ${COLD_TOKENS + 2 * settings.trials} tokens per algorithm`);
    await prepareDatabase(admin, COLD_TOKENS + 2 * settings.trials);
    await checkShapes(appUrl, settings.clients);
    if (settings.keep) return await keepForProfiling(target, appUrl, cluster.dataDir);

    const { seconds, clients } = settings;
    const runs = 2 * (ALGORITHMS.length + 1) + 2 * ALGORITHMS.length + 2 + 2;
    progress(`${runs} pgbench runs of ${seconds} s and ${ALGORITHMS.length * settings.trials} fresh backends for the first call: about ${Math.ceil((runs * seconds + 30) / 60)} min`);
    const bench = (name: string, script: string, options: Partial<PgbenchOptions> = {}) => {
      progress(`pgbench ${name}`);
      return pgbench(target, name, script, { clients, seconds, ...options });
    };

    // unmeasured warm-up: shared buffers, catalogue caches, the server's first-run costs
    await bench('warm-up', plainSettingsScript(), { seconds: 2 });
    await bench('warm-up', authdbScript('RS256', 'warm', clients, COLD_TOKENS), { seconds: 2 });
    // The plain-settings shape runs before and after each algorithm's pair of runs, and each ratio
    // uses the mean of the two around it: on a shared machine the load moves during the run, and
    // the difference between the two (drift) says by how much.
    const rows: Row[] = [];
    let before = await bench('plain-settings', plainSettingsScript());
    const plainRuns = [before.tps];
    for (const alg of ALGORITHMS) {
      const warm = await bench(`${alg}-warm`, authdbScript(alg, 'warm', clients, COLD_TOKENS));
      const cold = await bench(`${alg}-cold`, authdbScript(alg, 'cold', clients, COLD_TOKENS));
      const after = await bench('plain-settings', plainSettingsScript());
      plainRuns.push(after.tps);
      const around = { plain: [before.tps, after.tps] as [number, number], plainCpu: [before.backendCpuMicros, after.backendCpuMicros] as [number, number] };
      rows.push({ shape: 'warm token', alg, tps: warm.tps, cpu: warm.backendCpuMicros, ...around, target: WARM_TARGET });
      rows.push({ shape: 'new token (cold)', alg, tps: cold.tps, cpu: cold.backendCpuMicros, ...around, target: COLD_TARGET[alg] });
      before = after;
    }
    // A new connection for every request (pgbench -C): the backend is new, so is every token to it.
    const connectBefore = await bench('plain-settings-connect', plainSettingsScript(), { connect: true });
    const connects: { alg: Algorithm; tps: number; cpu: number }[] = [];
    for (const alg of ALGORITHMS) {
      const run = await bench(`${alg}-connect`, authdbScript(alg, 'warm', clients, COLD_TOKENS), { connect: true });
      connects.push({ alg, tps: run.tps, cpu: run.backendCpuMicros });
    }
    const connectAfter = await bench('plain-settings-connect', plainSettingsScript(), { connect: true });
    for (const { alg, tps, cpu } of connects) {
      rows.push({ shape: 'new connection per request', alg, tps, cpu, plain: [connectBefore.tps, connectAfter.tps], plainCpu: [connectBefore.backendCpuMicros, connectAfter.backendCpuMicros] });
    }

    // Per statement, one client: what each statement of the warm request costs.
    const perStatementOptions = { clients: 1, reportLatencies: true };
    const plainStatements = (await bench('plain-settings -r', plainSettingsScript(), perStatementOptions)).statements;
    const authdbStatements = (await bench('RS256-warm -r', authdbScript('RS256', 'warm', 1, COLD_TOKENS), perStatementOptions)).statements;

    const firstCalls = new Map<Algorithm, FirstCall>();
    for (const alg of ALGORITHMS) {
      progress(`first auth.init in ${settings.trials} fresh backends, ${alg}`);
      firstCalls.set(alg, await firstCall(appUrl, admin, alg, settings.trials, COLD_TOKENS));
    }
    const token = (await admin.query("SELECT token FROM public.bench_tokens WHERE alg = 'RS256' AND id = 0")).rows[0].token as string;
    const roundTrips = await withAuthRoundTrips(appUrl, token);

    console.log(`authdb per-request bench: Debian PostgreSQL ${version}, ${ROWS.toLocaleString('en')} rows, ${USERS.toLocaleString('en')} users, ` +
      `pgbench ${clients} clients × ${seconds} s per shape, over TCP on 127.0.0.1`);
    console.log('Each request: BEGIN; SET LOCAL ROLE authenticated; identity; SELECT count(*) (RLS, 100 rows visible); COMMIT.');
    console.log(`plain settings = the PostgREST/Supabase shape: set_config('request.jwt.claims', …), a policy reading it, no verification.`);
    const spread = (values: number[]) => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;
    console.log(`plain settings: ${spread(plainRuns)} tps over the run (${plainRuns.length} runs); ` +
      `with a new connection per request ${connectBefore.tps.toFixed(0)} then ${connectAfter.tps.toFixed(0)} tps.`);
    console.log('Each ratio is to the mean of the plain-settings runs just before and after it (their difference: drift).');
    console.log('CPU µs: the backends\' CPU time per request (from the postmaster\'s reaped children); CPU ratio: plain\'s over');
    console.log('the shape\'s, what a server bound by its CPU would see. The targets are checked on tps, as the issue states them.\n');
    const baseline = readBaseline();
    const beforeFigure = (value: number | undefined, digits = 2) => (value === undefined ? '' : `${value.toFixed(digits)}`);
    if (baseline) console.log(`before = bench/baseline.json: ${baseline.date}, commit ${baseline.commit.slice(0, 12)} (${baseline.about})\n`);
    console.log('issue = the figures issue 11 started from (authdb 0.1.0, a quiet machine); before = the recorded baseline; vs plain = this run.\n');
    console.log(table(['shape', 'alg', 'tps', 'plain tps', 'drift', 'issue', 'before', 'vs plain', 'target', 'met', 'CPU µs', 'plain CPU µs', 'CPU ratio'], rows.map((row) => {
      const plain = (row.plain[0] + row.plain[1]) / 2;
      const plainCpu = (row.plainCpu[0] + row.plainCpu[1]) / 2;
      const drift = `${row.plain[1] >= row.plain[0] ? '+' : ''}${(((row.plain[1] - row.plain[0]) / row.plain[0]) * 100).toFixed(0)}%`;
      const cpuKnown = Number.isFinite(row.cpu) && Number.isFinite(plainCpu);
      const was = baseline?.ratios[SHAPE_KEYS[row.shape]!]?.[row.alg];
      const filed = ISSUE.ratios[SHAPE_KEYS[row.shape]!][row.alg];
      return [row.shape, row.alg, row.tps.toFixed(row.tps < 100 ? 1 : 0), plain.toFixed(plain < 100 ? 1 : 0), drift, filed === undefined ? '' : ratio(filed),
        was === undefined ? '' : ratio(was), ratio(row.tps / plain),
        row.target ? `≥ ${row.target.toFixed(2)}×` : '', met(row.target === undefined ? undefined : row.tps / plain >= row.target),
        cpuKnown ? row.cpu.toFixed(0) : '', cpuKnown ? plainCpu.toFixed(0) : '', cpuKnown ? ratio(plainCpu / row.cpu) : ''];
    })));

    console.log(`\nFirst auth.init in a fresh backend (ms, median of ${settings.trials}; then, in that backend, a second token, and that token again)`);
    console.log(table(['alg', '', 'issue', 'before', 'first', 'min–max', 'second token', 'first cache hit', 'target', 'met'], ALGORITHMS.map((alg) => {
      const f = firstCalls.get(alg)!;
      const goal = FIRST_CALL_TARGET_MS[alg];
      return [alg, '', ISSUE.firstCallMs[alg] ?? '', beforeFigure(baseline?.firstCallMs[alg], 1), median(f.first).toFixed(1), `${f.first[0]!.toFixed(1)}–${f.first.at(-1)!.toFixed(1)}`, median(f.second).toFixed(1),
        median(f.again).toFixed(2), goal ? `≤ ${goal} ms` : '', met(goal === undefined ? undefined : median(f.first) <= goal)];
    })));

    const statement = (statements: Map<string, number>, prefix: string) =>
      [...statements.entries()].find(([text]) => text.startsWith(prefix))?.[1] ?? Number.NaN;
    const initMs = statement(authdbStatements, 'SELECT auth.init');
    const setMs = statement(plainStatements, 'SELECT set_config');
    const rlsMs = statement(authdbStatements, 'SELECT count(*)');
    const plainRlsMs = statement(plainStatements, 'SELECT count(*)');
    const txMs = (statements: Map<string, number>) => [...statements.values()].reduce((a, b) => a + b, 0);
    console.log(`\nPer statement, warm token, 1 client (pgbench -r, ms)`);
    const was = baseline?.statementMs;
    console.log(table(['statement', '', 'authdb', 'plain settings', 'issue', 'before', 'ratio', 'target', 'met'], [
      ['identity: auth.init vs set_config', '', initMs.toFixed(3), setMs.toFixed(3), ratio(ISSUE.initStatementRatio), was ? ratio(was.init / was.setConfig) : '', ratio(initMs / setMs), '', ''],
      ['RLS count(*): (select auth.user_id()) vs current_setting', '', rlsMs.toFixed(3), plainRlsMs.toFixed(3), ratio(ISSUE.rlsStatementRatio),
        was ? ratio(was.rls / was.plainRls) : '', ratio(rlsMs / plainRlsMs), `≤ ${STATEMENT_TARGET.toFixed(2)}×`, met(rlsMs / plainRlsMs <= STATEMENT_TARGET)],
      ['whole transaction', '', txMs(authdbStatements).toFixed(3), txMs(plainStatements).toFixed(3), '', '', ratio(txMs(authdbStatements) / txMs(plainStatements)), '', ''],
    ]));
    console.log(`\nwithAuth round trips besides the application's queries: ${roundTrips} (issue: ${ISSUE.withAuthRoundTrips}` +
      `${baseline ? `, before: ${baseline.withAuthRoundTrips}` : ''}) ` +
      `(target ≤ ${ROUND_TRIPS_TARGET}: ${met(roundTrips <= ROUND_TRIPS_TARGET)})`);

    if (settings.saveBaseline) {
      const byAlg = (shape: string) => Object.fromEntries(rows.filter((row) => row.shape === shape)
        .map((row) => [row.alg, Number((row.tps / ((row.plain[0] + row.plain[1]) / 2)).toFixed(2))]));
      const saved: Baseline = {
        about: `npm run bench -- --per-request-only: pgbench ${clients} clients x ${seconds} s per shape, Debian PostgreSQL ${version.split(' ')[0]}`,
        date: new Date().toISOString().slice(0, 10),
        commit: execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim(),
        ratios: { warm: byAlg('warm token'), cold: byAlg('new token (cold)'), connect: byAlg('new connection per request') },
        firstCallMs: Object.fromEntries(ALGORITHMS.map((alg) => [alg, Number(median(firstCalls.get(alg)!.first).toFixed(1))])),
        statementMs: { init: initMs, setConfig: setMs, rls: rlsMs, plainRls: plainRlsMs },
        withAuthRoundTrips: roundTrips,
      };
      writeFileSync(BASELINE_FILE, `${JSON.stringify(saved, null, 2)}\n`);
      console.log(`\nsaved as the new baseline: ${BASELINE_FILE}`);
    }
  } finally {
    await admin.end().catch(() => undefined);
    cluster.destroy();
    rmSync(target.dir, { recursive: true, force: true });
  }
}

await main();
