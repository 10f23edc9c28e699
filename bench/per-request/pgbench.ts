// pgbench scripts for the request shapes, and running them. Every shape is one transaction, the way
// an application sends a request: BEGIN; SET LOCAL ROLE authenticated; the identity; one query
// filtered by row-level security; COMMIT. Both shapes read their token (or claims) from the same
// table in the identity statement, so that lookup costs the same on both sides.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEBIAN_PG_BIN } from '../../tools/pg-cluster.js';
import { APP_ROLE, type Algorithm } from './setup.js';

const run = promisify(execFile);

/** warm: each client presents its own token again and again (the backend's cache holds it);
 *  cold: every request presents a token this backend has not seen (a signature check). */
export type TokenMode = 'warm' | 'cold';

function tokenSelection(mode: TokenMode, clients: number, tokens: number): string {
  if (mode === 'warm') return '\\set id :client_id';
  // a counter per client (pgbench keeps variables across transactions; `-D n=0` starts it), so the
  // clients walk disjoint sequences through all tokens; a token comes back only after thousands of
  // others went through the backend's sixteen cache slots
  return `\\set n :n + 1\n\\set id (:client_id + ${clients} * :n) % ${tokens}`;
}

export function authdbScript(alg: Algorithm, mode: TokenMode, clients: number, tokens: number): string {
  return `${tokenSelection(mode, clients, tokens)}
BEGIN;
SET LOCAL ROLE authenticated;
SELECT auth.init(token) IS NOT NULL FROM public.bench_tokens WHERE alg = '${alg}' AND id = :id;
SELECT count(*) FROM public.todos;
COMMIT;
`;
}

export function plainSettingsScript(): string {
  return `\\set id :client_id
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', claims, true) FROM public.bench_tokens WHERE alg = 'RS256' AND id = :id;
SELECT count(*) FROM public.todos_settings;
COMMIT;
`;
}

export interface PgbenchTarget {
  host: string;
  port: number;
  database: string;
  /** Where the scripts are written. */
  dir: string;
  /** The postmaster's pid: the CPU time of the backends it reaped is read from it. */
  postmasterPid: number;
}

export interface PgbenchResult {
  tps: number;
  transactions: number;
  /** CPU time of the run's backends per transaction, µs (NaN where /proc cannot tell). */
  backendCpuMicros: number;
  /** Statement latencies (ms) by statement text, with `-r`. */
  statements: Map<string, number>;
}

export interface PgbenchOptions {
  clients: number;
  seconds: number;
  /** A new connection for every transaction (`-C`). */
  connect?: boolean;
  /** Per-statement latencies (`-r`). */
  reportLatencies?: boolean;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds of the postmaster's reaped children (cutime + cstime, proc(5)): every backend that has
 * exited, with all the CPU it used. NaN where there is no /proc.
 */
function reapedChildrenCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): cutime and cstime are fields 16 and 17
    return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** The pids of a process's children, zombies (exited, not yet reaped) included. */
function children(pid: number): Set<number> {
  const found = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.add(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Waits until every child of the postmaster not in `before` has exited and been reaped. */
async function reaped(postmasterPid: number, before: Set<number>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ([...children(postmasterPid)].every((pid) => before.has(pid))) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('bench: the backends of a pgbench run did not exit within 10 s');
}

/** Runs one script for a fixed time; throws with pgbench's own words when a client failed. */
export async function pgbench(target: PgbenchTarget, name: string, script: string, options: PgbenchOptions): Promise<PgbenchResult> {
  const file = join(target.dir, `${name}.sql`);
  writeFileSync(file, script);
  const args = [
    '-n', '-h', target.host, '-p', String(target.port), '-U', APP_ROLE,
    '-c', String(options.clients), '-j', String(options.clients), '-T', String(options.seconds),
    '-D', 'n=0',
    ...(options.connect ? ['-C'] : []),
    ...(options.reportLatencies ? ['-r'] : []),
    '-f', file, target.database,
  ];
  let stdout: string;
  let stderr: string;
  const resident = children(target.postmasterPid);
  const cpuBefore = reapedChildrenCpu(target.postmasterPid);
  try {
    ({ stdout, stderr } = await run(join(DEBIAN_PG_BIN, 'pgbench'), args, { encoding: 'utf8', maxBuffer: 16 << 20 }));
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    const detail = `${failure.stderr ?? ''}${failure.stdout ?? ''}`.split('\n').filter((line) => /error|abort/i.test(line)).slice(0, 3).join(' / ');
    throw new Error(`pgbench ${name} failed: ${detail || failure.message}`);
  }
  const tps = Number(/^tps = ([0-9.]+)/m.exec(stdout)?.[1]);
  const transactions = Number(/^number of transactions actually processed: (\d+)/m.exec(stdout)?.[1]);
  const failed = Number(/^number of failed transactions: (\d+)/m.exec(stdout)?.[1] ?? 0);
  if (!Number.isFinite(tps) || !(transactions > 0) || failed > 0 || /error/i.test(stderr)) {
    throw new Error(`pgbench ${name}: no clean result (${failed} failed)\n${stdout}${stderr}`);
  }
  await reaped(target.postmasterPid, resident);
  const backendCpuMicros = ((reapedChildrenCpu(target.postmasterPid) - cpuBefore) * 1e6) / transactions;
  const statements = new Map<string, number>();
  if (options.reportLatencies) {
    // PostgreSQL 15: "<latency ms>  <failures>  <statement>", after the "statement latencies" line
    const section = stdout.slice(stdout.indexOf('statement latencies'));
    for (const line of section.split('\n').slice(1)) {
      const match = /^\s+([0-9.]+)\s+(?:\d+\s+)?(\S.*)$/.exec(line);
      if (match) statements.set(match[2]!.trim(), Number(match[1]));
    }
  }
  return { tps, transactions, backendCpuMicros, statements };
}
