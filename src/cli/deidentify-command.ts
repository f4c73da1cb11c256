import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { describePixelModels } from '../anonymizer/pixel/pixel-models-notice.js';
import type { ReleaseRequest } from '../anonymizer/release-instance.js';
import { PROFILE_OPTIONS, type ProfileOption } from '../anonymizer/deid-types.js';
import { resolveDeidOptions } from '../anonymizer/settings/resolve-deid-options.js';
import { defaultThreads, ReleasePool, releaseWorkerData } from '../workers/release-pool.js';
import { AnofairError, describeError } from '../errors/anofair-error.js';
import { readDeidSettings } from './config-file.js';
import { listInputs } from './input-files.js';
import { createProgress } from './progress.js';

interface DeidentifyFlags {
  out: string;
  option: string[];
  config?: string;
  report?: string;
  keyFile?: string;
  /** CXR-AnoFAIR pixel anonymization of chest radiographs: true for the shipped demo models, or a models folder */
  pixels?: string | boolean;
  workers?: number;
}


type Status = 'released' | 'quarantined' | 'failed';

function collectOption(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export async function runDeidentify(inputs: string[], flags: DeidentifyFlags): Promise<number> {
  const unknown = flags.option.filter((o) => !PROFILE_OPTIONS.includes(o as ProfileOption));
  if (unknown.length) {
    throw new AnofairError('CONFIG_INVALID', `unknown option ${unknown.join(', ')}; the options are: ${PROFILE_OPTIONS.join(', ')}`);
  }
  const settings = readDeidSettings(flags.config);
  if (flags.keyFile) settings.keyFile = flags.keyFile;
  settings.options = [...new Set([...settings.options, ...(flags.option as ProfileOption[])])];
  const options = resolveDeidOptions(settings);

  const { files, missing } = listInputs(inputs);
  const counts: Record<Status, number> = { released: 0, quarantined: 0, failed: 0 };
  if (flags.report) {
    mkdirSync(dirname(flags.report), { recursive: true });
    writeFileSync(flags.report, '');
  }
  const report = (line: Record<string, unknown>) => {
    if (flags.report) appendFileSync(flags.report, `${JSON.stringify(line)}\n`);
  };
  for (const path of missing) {
    counts.failed++;
    process.stderr.write(`${path}: IO: no such file or directory\n`);
    report({ input: path, status: 'failed', reason: 'no such file or directory' });
  }

  // --pixels: the configuration's pixels: settings, with the folder given on the command line if any
  const pixelSettings = flags.pixels ? { ...settings.pixels, ...(typeof flags.pixels === 'string' ? { models: resolve(flags.pixels) } : {}) } : undefined;
  const threads = flags.workers ?? settings.workers.threads ?? defaultThreads();
  const pool = await ReleasePool.start({
    threads: Math.min(threads, Math.max(1, files.length)),
    taskTimeoutMs: settings.workers.taskTimeoutMs,
    maxHeapMb: settings.workers.maxHeapMb,
    nice: settings.workers.nice ?? 0,
    data: releaseWorkerData(options, pixelSettings),
  });
  if (pool.pixelModels) process.stderr.write(`${describePixelModels(pool.pixelModels)}\n`);
  // --pixels asks for every input's pixels: an input that cannot be regenerated is quarantined, never written as is
  const request: ReleaseRequest = { options: options.options, pixels: pixelSettings ? 'cxr-anofair' : 'none', rule: '--pixels', configHash: options.configHash };
  let cleaned = 0;
  const progress = createProgress(files.length, pixelSettings ? 'de-identifying (pixels too)' : 'de-identifying');
  const started = Date.now();
  const releaseOne = async (input: (typeof files)[number]): Promise<void> => {
    const output = join(flags.out, input.relative);
    try {
      const outcome = await pool.releaseFile(input.path, output, request);
      const pixels = outcome.status === 'released' && outcome.record.pixelAnonymization ? { pixels: outcome.record.pixelAnonymization } : {};
      if (outcome.status === 'released') {
        counts.released++;
        if (outcome.record.pixelAnonymization) cleaned++;
        report({ input: input.path, output, status: 'released', record: outcome.record, ...pixels });
      } else if (outcome.status === 'quarantined') {
        counts.quarantined++;
        process.stderr.write(`${input.path}: quarantined: ${outcome.reason}\n`);
        report({ input: input.path, status: 'quarantined', reason: outcome.reason, ...(outcome.record ? { record: outcome.record } : {}) });
      } else {
        counts.failed++;
        process.stderr.write(`${input.path}: ${outcome.reason}\n`);
        report({ input: input.path, status: 'failed', reason: outcome.reason });
      }
    } catch (err) {
      counts.failed++;
      process.stderr.write(`${input.path}: ${describeError(err)}\n`);
      report({ input: input.path, status: 'failed', reason: describeError(err) });
    }
    progress.tick();
  };
  try {
    await pool.forEachInWindow(files, releaseOne);
  } finally {
    progress.stop();
    await pool.close();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stderr.write(
    `de-identified ${counts.released} of ${files.length + missing.length} input(s) in ${seconds} s with ${pool.threads} worker(s): ` +
      `${counts.released} released${pixelSettings ? ` (${cleaned} with regenerated pixels)` : ''}, ${counts.quarantined} quarantined, ${counts.failed} failed ` +
      `(key ${options.key.id}${settings.options.length ? `, options ${settings.options.join(' ')}` : ', Basic Profile'})\n`,
  );
  return counts.quarantined + counts.failed > 0 ? 1 : 0;
}

export function registerDeidentifyCommand(program: Command): void {
  program
    .command('deidentify')
    .description(
      'De-identify DICOM files per PS3.15 2026c Annex E (Basic Profile and options), with keyed pseudonyms. ' +
        'Each output is written at the same relative path under --out. Instances whose pixels may show ' +
        'identifying text are quarantined, not written, unless --pixels regenerated them. Runs in worker threads. Exits 1 if any input ' +
        'failed or was quarantined.',
    )
    .argument('<inputs...>', 'DICOM files or directories (searched recursively)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--option <name>', `a PS3.15 option, repeatable: ${PROFILE_OPTIONS.join(', ')}`, collectOption, [])
    .option('--config <file>', 'YAML configuration; its deidentification: section is used')
    .option('--key-file <file>', 'pseudonymisation key file (ANOFAIR_DEID_KEY in the environment takes precedence)')
    .option('--workers <n>', 'worker threads (default: deidentification.workers.threads, else cores - 1)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new AnofairError('CONFIG_INVALID', `--workers takes a whole number from 1 to 256, not ${v}`);
      return n;
    })
    .option('--report <file.jsonl>', 'write one JSON line per input: output path, status, reason, record')
    .option(
      '--pixels [models]',
      'CXR-AnoFAIR pixel anonymization of every input (give it chest radiographs): disease regions kept ' +
        'pixel-exact, the rest (burned-in text included) regenerated; an input whose pixels cannot be regenerated ' +
        '(colour, several frames, an encoding that cannot be decoded, a model error) is quarantined. Models folder ' +
        'with detector/ and inpaint/ (default: the shipped demo models, trained on synthetic phantoms only)',
    )
    .action(async (inputs: string[], flags: DeidentifyFlags) => {
      process.exitCode = await runDeidentify(inputs, flags);
    });
}
