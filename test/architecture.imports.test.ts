// The import graph (docs/architecture.md): `cli → src → sql`, with no arrow back. The library in
// src/ never imports the CLI or development code; nothing that ships or runs outside the test suite
// (src/, cli/, bench/, scripts/, tools/) imports from test/. Every import specifier of every source
// file is read, static, re-exported and dynamic alike, and resolved to the folder it lands in.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FOLDERS = ['src', 'cli', 'bench', 'scripts', 'tools'] as const;
type Folder = (typeof FOLDERS)[number] | 'test' | 'sql';

/** Which top-level folders each folder must never import from. */
const FORBIDDEN: Record<(typeof FOLDERS)[number], Folder[]> = {
  src: ['cli', 'bench', 'scripts', 'tools', 'test'],
  cli: ['bench', 'scripts', 'tools', 'test'],
  bench: ['cli', 'test'],
  scripts: ['cli', 'test'],
  tools: ['cli', 'bench', 'scripts', 'test'],
};

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;
// `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"]+)\1/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The relative import specifiers of a source file. */
function importSpecifiers(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((match) => match[2]!).filter((specifier) => specifier.startsWith('.'));
}

/** The top-level folder a relative import of `file` lands in (`.` for a file at the root). */
function targetFolder(file: string, specifier: string): string {
  return relative(ROOT, resolve(dirname(file), specifier)).split(/[\\/]/)[0]!;
}

describe('the import graph', () => {
  it('reads every kind of import specifier', () => {
    const text = `import a from '../cli/a.js';\nexport { b } from "../test/b.js";\nimport '../bench/c.js';\nconst d = await import('../scripts/d.js');\nimport pg from 'pg';`;
    expect(importSpecifiers(text)).toEqual(['../cli/a.js', '../test/b.js', '../bench/c.js', '../scripts/d.js']);
  });

  for (const folder of FOLDERS) {
    it(`${folder}/ imports nothing from ${FORBIDDEN[folder].join(', ')}`, () => {
      const files = sourceFiles(join(ROOT, folder));
      expect(files.length).toBeGreaterThan(0);
      const arrows = files.flatMap((file) =>
        importSpecifiers(readFileSync(file, 'utf8'))
          .map((specifier) => ({ file: relative(ROOT, file), specifier, to: targetFolder(file, specifier) }))
          .filter(({ to }) => (FORBIDDEN[folder] as string[]).includes(to)),
      );
      expect(arrows.map(({ file, specifier }) => `${file} → ${specifier}`)).toEqual([]);
    });
  }
});
