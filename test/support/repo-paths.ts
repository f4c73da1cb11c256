import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this module whether it runs from test/ (ts) or dist/test/ (compiled). */
function findRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes('/dist/test/') ? join(here, '../../..') : join(here, '../..');
}

export const REPO_ROOT = findRoot();
export const PUBLIC_FIXTURES_DIR = join(REPO_ROOT, 'test/fixtures/dicom-public');
export const STANDARD_DIR = join(REPO_ROOT, 'src/anonymizer/standard/ps3.15-2026c');

/** Every .dcm file under test/fixtures/dicom-public, as paths relative to that folder, sorted. */
export function publicFixtureFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.dcm')) out.push(relative(PUBLIC_FIXTURES_DIR, path));
    }
  };
  walk(PUBLIC_FIXTURES_DIR);
  return out.sort();
}

export function publicFixture(name: string): string {
  return join(PUBLIC_FIXTURES_DIR, name);
}
