// The server's extension directory (Debian's PostgreSQL 15), shared by every test run on this
// machine: tests that install an extension bundle there hold this lock while they do.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEBIAN_PG_BIN, debianPgUnavailable } from '../../tools/pg-cluster.js';

export function extensionDirUnavailable(): string | null {
  const reason = debianPgUnavailable();
  if (reason) return reason;
  try {
    accessSync(extensionDir(), constants.W_OK);
    return null;
  } catch {
    return `cannot write to ${extensionDir()}: run the tests as root`;
  }
}

export function extensionDir(): string {
  return join(execFileSync(join(DEBIAN_PG_BIN, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim(), 'extension');
}

const LOCK_DIR = join(tmpdir(), 'authdb-extension-dir.lock');

/** A lock directory holding the owner's pid; a lock whose owner died is taken over. */
export async function lockExtensionDir(): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(join(LOCK_DIR, 'pid'), String(process.pid));
      return;
    } catch {
      const owner = Number(readFileSafe(join(LOCK_DIR, 'pid')));
      if (owner && !processAlive(owner)) rmSync(LOCK_DIR, { recursive: true, force: true });
      else if (attempt > 600) throw new Error(`the extension directory stays locked by ${LOCK_DIR}`);
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

export function unlockExtensionDir(): void {
  if (readFileSafe(join(LOCK_DIR, 'pid')) === String(process.pid)) rmSync(LOCK_DIR, { recursive: true, force: true });
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
