import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { DEFAULT_OPTIONS, generatePhantoms, type PhantomOptions } from '../phantoms/generate.js';
import type { PhotometricOption } from '../phantoms/acquisition.js';
import { renderContactSheet } from '../phantoms/contact-sheet.js';

function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`${name} must be a number, got "${v}"`);
    return n;
  };
}

export function registerPhantomsCommand(program: Command): void {
  program
    .command('phantoms')
    .description(
      'Generate a deterministic synthetic chest radiograph dataset (DICOM CR/DX with planted PHI, burned-in text, ' +
        'findings with boxes, labels.jsonl and dataset.json). Same seed and arguments give byte-identical files.',
    )
    .requiredOption('--out <dir>', 'output directory (created; must be empty unless --force)')
    .requiredOption('--patients <n>', 'number of patients', num('--patients'))
    .requiredOption('--seed <seed>', 'seed (any string); all randomness derives from it')
    .option('--size <px>', 'image rows and columns', num('--size'), DEFAULT_OPTIONS.size)
    .option('--images-per-patient <n>', 'images (studies) per patient', num('--images-per-patient'), DEFAULT_OPTIONS.imagesPerPatient)
    .option('--burned-in-share <p>', 'share of images with burned-in name, ID and date', num('--burned-in-share'), DEFAULT_OPTIONS.burnedInShare)
    .addOption(
      new Option('--photometric <kind>', 'photometric interpretation of the images')
        .choices(['mixed', 'MONOCHROME1', 'MONOCHROME2'])
        .default(DEFAULT_OPTIONS.photometric),
    )
    .option('--male-share <p>', 'share of male patients', num('--male-share'), DEFAULT_OPTIONS.maleShare)
    .option('--old-share <p>', 'share of patients aged 60 or more', num('--old-share'), DEFAULT_OPTIONS.oldShare)
    .option('--normal-share <p>', 'share of images without findings', num('--normal-share'), DEFAULT_OPTIONS.normalShare)
    .option('--force', 'replace an earlier phantom dataset in --out', false)
    .option('--picture <png>', 'also draw a contact sheet of examples (ground-truth boxes beside the viewer rendering)')
    .option('--no-progress', 'no progress bar')
    .action(async (o: Record<string, unknown>) => {
      const opts: PhantomOptions = {
        out: String(o.out),
        patients: o.patients as number,
        seed: String(o.seed),
        size: o.size as number,
        imagesPerPatient: o.imagesPerPatient as number,
        burnedInShare: o.burnedInShare as number,
        photometric: o.photometric as PhotometricOption,
        maleShare: o.maleShare as number,
        oldShare: o.oldShare as number,
        normalShare: o.normalShare as number,
        force: o.force === true,
      };
      const showBar = o.progress !== false && process.stderr.isTTY === true;
      const bar = new cliProgress.SingleBar(
        { format: 'phantoms [{bar}] {percentage}% | {value}/{total} images | {eta_formatted} left', stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      const started = Date.now();
      let begun = false;
      try {
        const manifest = await generatePhantoms(opts, (done, total) => {
          if (!showBar) return;
          if (!begun) {
            bar.start(total, 0);
            begun = true;
          }
          bar.update(done);
        });
        if (begun) bar.stop();
        const c = manifest.counts;
        const seconds = (Date.now() - started) / 1000;
        const pct = (n: number, d: number): string => `${((100 * n) / Math.max(1, d)).toFixed(1)}%`;
        const lines = [
          `wrote ${c.images} images of ${c.patients} patients to ${opts.out} in ${seconds.toFixed(1)} s`,
          `  splits   train ${c.splits.train.patients} / val ${c.splits.val.patients} / test ${c.splits.test.patients} patients`,
          `  sex      M ${c.sex.M} (${pct(c.sex.M, c.patients)}), F ${c.sex.F}`,
          `  age      >=60 ${c.age_group['>=60']} (${pct(c.age_group['>=60'], c.patients)}), <60 ${c.age_group['<60']}`,
          `  normal   ${c.normal_images} images (${pct(c.normal_images, c.images)})`,
          `  findings ${Object.entries(c.findings).map(([k, v]) => `${k} ${v.images}`).join(', ')}`,
          `  burned-in text on ${c.burned_in_images} images (${pct(c.burned_in_images, c.images)})`,
          `  ${Object.entries(c.modality).map(([k, v]) => `${k} ${v}`).join(', ')}; ${Object.entries(c.photometric).map(([k, v]) => `${k} ${v}`).join(', ')}`,
          `  labels: ${opts.out}/labels.jsonl, manifest: ${opts.out}/dataset.json`,
        ];
        if (typeof o.picture === 'string') {
          await renderContactSheet(opts.out, o.picture);
          lines.push(`  picture: ${o.picture}`);
        }
        process.stdout.write(lines.join('\n') + '\n');
      } catch (err) {
        if (begun) bar.stop();
        throw err;
      }
    });
}
