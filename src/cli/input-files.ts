import { readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

export interface InputFile {
  path: string;
  /** Where its output goes, relative to --out. */
  relative: string;
}

/** Files named on the command line keep their base name; files under a directory keep their path below it. */
export function listInputs(args: readonly string[]): { files: InputFile[]; missing: string[] } {
  const files: InputFile[] = [];
  const missing: string[] = [];
  const walk = (root: string, dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(root, path);
      else if (entry.isFile()) files.push({ path, relative: relative(root, path) });
    }
  };
  for (const arg of args) {
    let stat;
    try {
      stat = statSync(arg);
    } catch {
      missing.push(arg);
      continue;
    }
    if (stat.isDirectory()) walk(arg, arg);
    else files.push({ path: arg, relative: basename(arg) });
  }
  return { files, missing };
}
