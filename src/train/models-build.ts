import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { AnofairError, describeError } from '../errors/anofair-error.js';
import { renderModelsDoc } from './models-doc.js';

/**
 * `npm run models:build`: rebuilds the demo model set from nothing. Generates phantoms with the anofair CLI, then
 * runs the PyTorch builder (src/train/python/anofair_models/build.py) with Debian's python3, and shows progress.
 */

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const DEFAULT_PYTHON = '/usr/bin/python3';

export interface BuildOptions {
  smoke: boolean;
  out?: string;
  data?: string;
  patients?: number;
  phantomSeed: number;
  seed: number;
  python: string;
  device?: string;
  only?: string;
  docs?: string;
  keepPhantoms: boolean;
  reportOnly?: boolean;
}

export const FULL_PATIENTS = 700;
export const SMOKE_PATIENTS = 10;

function run(command: string, args: string[], env: NodeJS.ProcessEnv, onLine: (line: string) => void, children?: Set<ChildProcess>): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children?.add(child);
    child.on('exit', () => children?.delete(child));
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', (line) => process.stderr.write(`${line}\n`));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise(code ?? (signal ? 128 : 1)));
  });
}

/** Terminal progress bars per stage; plain lines every 10% elsewhere (CI logs). */
function progressView(): { line(text: string): void; stop(): void } {
  const tty = Boolean(process.stderr.isTTY);
  const multi = tty
    ? new cliProgress.MultiBar(
        { format: '{stage} [{bar}] {value}/{total} loss {loss} | {eta_formatted} left', stream: process.stderr, hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  const printed = new Map<string, number>();
  return {
    line(text: string) {
      const m = /^progress (\S+) (\d+) (\d+) (\S+)$/.exec(text);
      if (m) {
        const [, stage, stepText, totalText, loss] = m as unknown as [string, string, string, string, string];
        const step = Number(stepText);
        const total = Number(totalText);
        if (multi) {
          let bar = bars.get(stage);
          if (!bar) {
            bar = multi.create(total, 0, { stage: stage.padEnd(10), loss });
            bars.set(stage, bar);
          }
          bar.update(step, { loss });
        } else {
          const decile = Math.floor((10 * step) / total);
          if (decile > (printed.get(stage) ?? -1)) {
            printed.set(stage, decile);
            process.stderr.write(`${stage}: step ${step}/${total}, loss ${loss}\n`);
          }
        }
        return;
      }
      const message = text.startsWith('info ') ? text.slice(5) : text;
      if (multi) multi.log(`${message}\n`);
      else process.stderr.write(`${message}\n`);
    },
    stop() {
      multi?.stop();
    },
  };
}

async function generatePhantoms(dir: string, patients: number, seed: number): Promise<void> {
  process.stderr.write(`phantoms: ${patients} patients, seed ${seed} -> ${dir}\n`);
  const code = await run(process.execPath, [join(REPO_ROOT, 'bin', 'anofair.js'), 'phantoms', '--out', dir, '--patients', String(patients), '--seed', String(seed)], process.env, (line) =>
    process.stderr.write(`${line}\n`),
  );
  if (code !== 0) throw new AnofairError('INTERNAL', `phantom generation failed (exit ${code}); is the project built (npm run build)?`);
  if (!existsSync(join(dir, 'labels.jsonl'))) throw new AnofairError('IO', `phantom generation wrote no labels.jsonl in ${dir}`);
}

/** Checks the interpreter and answers whether it sees a CUDA device. */
async function checkPython(python: string): Promise<boolean> {
  if (!existsSync(python)) throw new AnofairError('CONFIG_INVALID', `python ${python} not found; install Debian's python3-torch python3-onnx python3-pydicom or set ANOFAIR_PYTHON`);
  const lines: string[] = [];
  const code = await run(python, ['-c', 'import torch, onnx, pydicom, numpy; print(torch.cuda.is_available())'], process.env, (l) => lines.push(l));
  if (code !== 0) {
    throw new AnofairError('CONFIG_INVALID', `${python} lacks torch, onnx, pydicom or numpy; on Debian: apt-get install python3-torch python3-onnx python3-pydicom python3-numpy`);
  }
  return lines.includes('True');
}

/** On CPU the stages run as two single-threaded processes: on a shared machine two independent threads keep
 * working where one two-thread process would wait at every barrier for its descheduled half. */
export const CPU_STAGE_GROUPS = [
  ['attributes', 'detector', 'diagnostic', 'reid'],
  ['vae', 'diffusion', 'decoder'],
];
export const STAGES = CPU_STAGE_GROUPS.flat();

function stageGroups(only: string | undefined, parallel: boolean): string[][] {
  const wanted = only ? only.split(',').filter(Boolean) : STAGES;
  const unknown = wanted.filter((s) => !STAGES.includes(s));
  if (unknown.length) throw new AnofairError('CONFIG_INVALID', `unknown stage ${unknown.join(', ')}; the stages are ${STAGES.join(', ')}`);
  if (!parallel) return [wanted];
  return CPU_STAGE_GROUPS.map((g) => g.filter((s) => wanted.includes(s))).filter((g) => g.length > 0);
}

type Summary = { seconds?: number; stages?: Record<string, unknown> } & Record<string, unknown>;

/** Folds the stage processes' summaries into build-summary.json; a partial build (--only) keeps the other stages'
 * entries of the previous summary and records itself under partial_builds (the full build's times stay its own),
 * a full build starts a new one (notes about an earlier build would be false). */
export function mergeSummaries(out: string, parts: string[], seconds: number | undefined, fresh = false): void {
  const previousPath = join(out, 'build-summary.json');
  const merged: Summary = !fresh && existsSync(previousPath) ? (JSON.parse(readFileSync(previousPath, 'utf8')) as Summary) : {};
  merged.stages ??= {};
  const rebuilt: string[] = [];
  for (const part of parts) {
    const path = join(out, part);
    if (!existsSync(path)) continue;
    const s = JSON.parse(readFileSync(path, 'utf8')) as Summary;
    Object.assign(merged.stages!, s.stages ?? {});
    rebuilt.push(...Object.keys(s.stages ?? {}));
    for (const [k, v] of Object.entries(s)) if (k !== 'stages' && k !== 'seconds') merged[k] = v;
    if (fresh) merged[`seconds_${part.replace(/^build-summary-|\.json$/g, '')}`] = s.seconds;
    rmSync(path);
  }
  if (seconds !== undefined && fresh) merged.seconds = Math.round(seconds);
  else if (seconds !== undefined && rebuilt.length) {
    const earlier = Array.isArray(merged.partial_builds) ? (merged.partial_builds as unknown[]) : [];
    merged.partial_builds = [...earlier, { stages: rebuilt, seconds: Math.round(seconds), finished: new Date().toISOString() }];
  }
  writeFileSync(join(out, 'build-summary.json'), `${JSON.stringify(merged, null, 2)}\n`);
}

export async function buildModels(options: BuildOptions): Promise<{ out: string; seconds: number }> {
  const started = Date.now();
  if (options.reportOnly) {
    const out = resolve(options.out ?? join(REPO_ROOT, 'models', 'demo'));
    const parts = existsSync(out) ? readdirSync(out).filter((f) => /^build-summary-.+\.json$/.test(f)) : [];
    mergeSummaries(out, parts, undefined);
    if (options.docs) writeFileSync(options.docs, renderModelsDoc(out, REPO_ROOT));
    return { out, seconds: (Date.now() - started) / 1000 };
  }
  const cuda = await checkPython(options.python);
  const onCpu = options.device === 'cpu' || (!cuda && options.device !== 'cuda');
  const groups = stageGroups(options.only, onCpu);
  if (options.data && !existsSync(join(resolve(options.data), 'labels.jsonl'))) {
    throw new AnofairError('IO', `no labels.jsonl in ${resolve(options.data)}: not a phantom folder (make one with anofair phantoms --out DIR)`);
  }
  const out = resolve(options.out ?? (options.smoke ? mkdtempSync(join(tmpdir(), 'anofair-models-smoke-')) : join(REPO_ROOT, 'models', 'demo')));
  mkdirSync(out, { recursive: true });
  let data = options.data ? resolve(options.data) : undefined;
  let phantomDir: string | undefined;
  if (!data) {
    phantomDir = mkdtempSync(join(tmpdir(), 'anofair-phantoms-'));
    data = phantomDir;
    await generatePhantoms(data, options.patients ?? (options.smoke ? SMOKE_PATIENTS : FULL_PATIENTS), options.phantomSeed);
  }
  try {
    const env = {
      ...process.env,
      PYTHONPATH: join(REPO_ROOT, 'src', 'train', 'python'),
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
      ...(groups.length > 1 ? { ANOFAIR_TORCH_THREADS: '1', OMP_NUM_THREADS: '1' } : {}),
    };
    const view = progressView();
    const parts = groups.map((_, k) => `build-summary-${k + 1}.json`);
    const children = new Set<ChildProcess>();
    const runStarted = Math.floor(Date.now() / 1000) - 1;
    const codes = await Promise.all(
      groups.map(async (group, k) => {
        const args = ['-m', 'anofair_models.build', '--data', data!, '--out', out, '--seed', String(options.seed), '--only', group.join(','), '--summary', parts[k]!];
        if (options.smoke) args.push('--smoke');
        if (options.device) args.push('--device', options.device);
        if (options.docs) args.push('--report-dir', resolve(options.docs, '..'));
        // the inpainting is judged by the attribute classifier of this build, which another process trains
        if (group.includes('diffusion') && groups.some((g) => g !== group && g.includes('attributes'))) args.push('--judge-after', String(runStarted));
        const code = await run(options.python, args, env, (line) => view.line(line), children);
        // one failed stage fails the build: stop the others instead of letting them train (or wait) for nothing
        if (code !== 0) for (const other of children) other.kill('SIGTERM');
        return code;
      }),
    ).finally(() => view.stop());
    const failed = codes.filter((c) => c !== 0);
    if (failed.length) throw new AnofairError('INTERNAL', `model building failed (exit ${failed.join(', ')}); see the messages above`);
    mergeSummaries(out, parts, (Date.now() - started) / 1000, !options.only);
    if (options.docs) writeFileSync(options.docs, renderModelsDoc(out, REPO_ROOT));
  } finally {
    if (phantomDir && !options.keepPhantoms) rmSync(phantomDir, { recursive: true, force: true });
    else if (phantomDir) process.stderr.write(`phantoms kept in ${phantomDir}\n`);
  }
  return { out, seconds: (Date.now() - started) / 1000 };
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('models-build')
    .description('Rebuild the demo model set (detector, inpainting, re-identification, attribute and diagnostic models) from freshly generated phantoms.')
    .option('--smoke', 'train each model for a few steps on a few phantoms (tests the pipeline; output in a temp folder unless --out)', false)
    .option('--out <dir>', 'output folder (default models/demo; a temp folder for --smoke)')
    .option('--data <dir>', 'use this phantom folder instead of generating one')
    .option('--patients <n>', `phantom patients to generate (default ${FULL_PATIENTS}, ${SMOKE_PATIENTS} for --smoke)`, (v) => Number.parseInt(v, 10))
    .option('--phantom-seed <n>', 'phantom generator seed', (v) => Number.parseInt(v, 10), 4242)
    .option('--seed <n>', 'training seed', (v) => Number.parseInt(v, 10), 20260)
    .option('--python <path>', 'python with PyTorch', process.env.ANOFAIR_PYTHON ?? DEFAULT_PYTHON)
    .option('--device <name>', 'cpu or cuda (default: cuda when available)')
    .option('--only <stages>', 'comma-separated: detector,attributes,diagnostic,reid,vae,diffusion,decoder')
    .option('--docs <file>', 'write the models report (markdown) here; default docs/MODELS.md for a full build into models/demo')
    .option('--keep-phantoms', 'keep the generated phantom folder', false)
    .option('--report-only', 'train nothing: fold partial build summaries into build-summary.json and rewrite the docs', false)
    .exitOverride();
  try {
    program.parse(argv);
  } catch (err) {
    return (err as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<{ smoke: boolean; out?: string; data?: string; patients?: number; phantomSeed: number; seed: number; python: string; device?: string; only?: string; docs?: string; keepPhantoms: boolean; reportOnly: boolean }>();
  const fullDemo = !o.smoke && !o.out && !o.only;
  try {
    const result = await buildModels({ ...o, docs: o.docs ?? (fullDemo || o.reportOnly ? join(REPO_ROOT, 'docs', 'MODELS.md') : undefined) });
    process.stderr.write(`models written to ${result.out} in ${(result.seconds / 60).toFixed(1)} min\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`models-build: ${describeError(err)}\n`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
