import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { deidentify } from '../anonymizer/deidentify.js';
import { CxrPixelCleaner } from '../anonymizer/pixel/pixel-cleaner.js';
import { PROFILE_OPTIONS, type ProfileOption } from '../anonymizer/deid-types.js';
import { resolveDeidOptions } from '../anonymizer/settings/resolve-deid-options.js';
import { readPart10 } from '../dicom/part10.js';
import { writePart10File } from '../dicom/part10-file.js';
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
  const cleaner = flags.pixels
    ? await CxrPixelCleaner.load({ ...settings.pixels, ...(typeof flags.pixels === 'string' ? { models: resolve(flags.pixels) } : {}) })
    : undefined;
  let cleaned = 0;
  const progress = createProgress(files.length, cleaner ? 'de-identifying (pixels too)' : 'de-identifying');
  const started = Date.now();
  for (const input of files) {
    const output = join(flags.out, input.relative);
    try {
      let file = readPart10(readFileSync(input.path));
      // pixels first, on the original instance (its own Pixel Data and window); the header profile follows
      const pixels = cleaner ? await cleaner.clean(file, options.key) : undefined;
      if (pixels?.status === 'cleaned') file = pixels.file;
      const outcome = deidentify(file, pixels?.status === 'cleaned' ? { ...options, pixelCleaning: 'applied' } : options);
      const pixelReport = pixels ? { pixels: pixels.status === 'cleaned' ? pixels.record : { status: 'not-applicable', reason: pixels.reason } } : {};
      if (outcome.status === 'released') {
        writePart10File(output, outcome.file);
        counts.released++;
        if (pixels?.status === 'cleaned') cleaned++;
        report({ input: input.path, output, status: 'released', record: outcome.record, ...pixelReport });
      } else {
        counts.quarantined++;
        process.stderr.write(`${input.path}: quarantined: ${outcome.reason}\n`);
        report({ input: input.path, status: 'quarantined', reason: outcome.reason, record: outcome.record, ...pixelReport });
      }
    } catch (err) {
      counts.failed++;
      process.stderr.write(`${input.path}: ${describeError(err)}\n`);
      report({ input: input.path, status: 'failed', reason: describeError(err) });
    }
    progress.tick();
  }
  progress.stop();
  await cleaner?.release();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stderr.write(
    `de-identified ${counts.released} of ${files.length + missing.length} input(s) in ${seconds} s: ` +
      `${counts.released} released${cleaner ? ` (${cleaned} with regenerated pixels)` : ''}, ${counts.quarantined} quarantined, ${counts.failed} failed ` +
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
        'identifying text are quarantined, not written, unless --pixels regenerated them. Exits 1 if any input ' +
        'failed or was quarantined.',
    )
    .argument('<inputs...>', 'DICOM files or directories (searched recursively)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--option <name>', `a PS3.15 option, repeatable: ${PROFILE_OPTIONS.join(', ')}`, collectOption, [])
    .option('--config <file>', 'YAML configuration; its deidentification: section is used')
    .option('--key-file <file>', 'pseudonymisation key file (ANOFAIR_DEID_KEY in the environment takes precedence)')
    .option('--report <file.jsonl>', 'write one JSON line per input: output path, status, reason, record')
    .option(
      '--pixels [models]',
      'CXR-AnoFAIR pixel anonymization of CR/DX chest radiographs: disease regions kept pixel-exact, the rest ' +
        '(burned-in text included) regenerated; other instances keep their pixels. Models folder with detector/ ' +
        'and inpaint/ (default: the shipped demo models)',
    )
    .action(async (inputs: string[], flags: DeidentifyFlags) => {
      process.exitCode = await runDeidentify(inputs, flags);
    });
}
