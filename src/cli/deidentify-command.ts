import type { Command } from 'commander';

export function registerDeidentifyCommand(program: Command): void {
  program
    .command('deidentify')
    .description('De-identify DICOM files per PS3.15 Annex E (work in progress)')
    .argument('<inputs...>', 'files or directories')
    .requiredOption('--out <dir>', 'output directory')
    .action(() => {
      throw new Error('not implemented yet');
    });
}
