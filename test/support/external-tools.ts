import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-paths.js';

/**
 * The tools we check our output with, none of them ours: dcmtk's dcmdump, dicom3tools' dciodvfy and Debian's
 * pydicom. A missing tool fails the test that needs it, loudly, with the package to install; it never skips.
 */
export const PYTHON = '/usr/bin/python3';
export const DCMDUMP = '/usr/bin/dcmdump';
export const DCIODVFY = '/usr/bin/dciodvfy';
export const DCMCONV = '/usr/bin/dcmconv';
export const DCMODIFY = '/usr/bin/dcmodify';

const PACKAGES: Record<string, string> = {
  [PYTHON]: 'python3 python3-pydicom',
  [DCMDUMP]: 'dcmtk',
  [DCIODVFY]: 'dicom3tools',
  [DCMCONV]: 'dcmtk',
  [DCMODIFY]: 'dcmtk',
};

export function requireTool(path: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: install the Debian package(s) "${PACKAGES[path] ?? path}" (apt-get install ${PACKAGES[path] ?? ''})`);
  }
}

export interface ToolResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(path: string, args: string[], input?: string): ToolResult {
  requireTool(path);
  const r = spawnSync(path, args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Run a Python script with Debian's python3 (which has pydicom 2.3); `args` become sys.argv[1:].
 * Throws with the script's stderr when it exits non-zero or pydicom is not importable.
 */
export function runPython(script: string, args: string[] = []): string {
  const r = run(PYTHON, ['-c', script, ...args]);
  if (r.status !== 0) {
    if (/No module named 'pydicom'/.test(r.stderr)) throw new Error('pydicom is missing: apt-get install python3-pydicom');
    throw new Error(`python3 failed (exit ${r.status}):\n${r.stderr}`);
  }
  return r.stdout;
}

/** dcmdump of a file: non-zero exit status and "E: ..." lines on stderr when it cannot parse it. */
export function dcmdump(file: string): ToolResult {
  return run(DCMDUMP, ['+L', file]);
}

/** dciodvfy of a file; its messages come on stderr, one per line, "Error - ..." / "Warning - ...". */
export function dciodvfy(file: string): ToolResult {
  return run(DCIODVFY, [file]);
}

/** Error lines of dciodvfy, with UIDs and values normalised (they change by design). */
export function dciodvfyErrors(file: string): string[] {
  const r = dciodvfy(file);
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^Error/.test(l));
  return [
    ...new Set(
      lines.map((l) =>
        l
          .replace(/\b\d+(\.\d+)+\b/g, '<uid>')
          .replace(/"[^"]*"/g, '"…"')
          .replace(/= <[^>]*>/g, '= <…>')
          .replace(/(UID) \S+$/, '$1 <uid>')
          .replace(/\s+/g, ' ')
          .trim(),
      ),
    ),
  ].sort();
}

/** dcmconv to Explicit VR Little Endian (dicom3tools cannot read deflated files; this is their baseline). */
export function dcmconvExplicitLittle(from: string, to: string): void {
  const r = run(DCMCONV, ['+te', from, to]);
  if (r.status !== 0) throw new Error(`dcmconv failed on ${from}: ${r.stderr}`);
}

/** dcmodify in place, without a backup: `-m "(gggg,eeee)=value"` for each entry (File Meta follows the data set). */
export function dcmodify(file: string, changes: Record<string, string>): void {
  const args = ['-nb', ...Object.entries(changes).flatMap(([tag, value]) => ['-m', `${tag}=${value}`]), file];
  const r = run(DCMODIFY, args);
  if (r.status !== 0) throw new Error(`dcmodify failed on ${file}: ${r.stderr}`);
}

const PYDICOM_VIEW = join(REPO_ROOT, 'test/support/pydicom_view.py');

/** pydicom's view of files (see pydicom_view.py): one python process for all of them. */
export function pydicomView<T>(command: 'view' | 'text' | 'identifying', files: string[], extra: string[] = []): Record<string, T | { error: string }> {
  const r = run(PYTHON, ['-W', 'ignore', PYDICOM_VIEW, command, ...extra, ...files]);
  if (r.status !== 0) {
    if (/No module named 'pydicom'/.test(r.stderr)) throw new Error('pydicom is missing: apt-get install python3-pydicom');
    throw new Error(`pydicom_view.py ${command} failed (exit ${r.status}):\n${r.stderr}`);
  }
  return JSON.parse(r.stdout) as Record<string, T | { error: string }>;
}

/**
 * Run python3 with the model builder's package (src/train/python) importable, e.g. to compare with the reference
 * implementations there. Returns stdout as bytes; throws with stderr when it fails (needs python3-torch, python3-onnx).
 */
export function runTrainPython(args: string[], input?: string): Buffer {
  requireTool(PYTHON);
  const r = spawnSync(PYTHON, args, {
    input,
    cwd: REPO_ROOT,
    env: { ...process.env, PYTHONPATH: join(REPO_ROOT, 'src', 'train', 'python'), PYTHONDONTWRITEBYTECODE: '1' },
    maxBuffer: 1 << 26,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python3 ${args[0] === '-c' ? '-c <script>' : args.join(' ')} failed (exit ${r.status}); needs python3-torch python3-onnx:\n${r.stderr}`);
  return r.stdout;
}
