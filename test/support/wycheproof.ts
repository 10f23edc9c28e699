// Wycheproof vector files (C2SP/wycheproof, Apache-2.0), vendored unchanged in test/vectors/wycheproof
// (see the README and LICENSE there).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const VECTORS = fileURLToPath(new URL('../vectors/wycheproof/', import.meta.url));

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [field: string]: unknown;
}

export interface WycheproofGroup {
  tests: WycheproofTest[];
  [field: string]: unknown;
}

export function vectorsAvailable(): boolean {
  return existsSync(VECTORS);
}

export function loadVectors(file: string): { algorithm: string; testGroups: WycheproofGroup[] } {
  return JSON.parse(readFileSync(`${VECTORS}${file}`, 'utf8'));
}

/** Wycheproof's verdict as authdb must give it: only "valid" verifies ("acceptable" counts as invalid). */
export const expectedVerdict = (test: WycheproofTest): boolean => test.result === 'valid';
