import type { Command } from 'commander';
import { writeNewKeyFile } from '../anonymizer/settings/key-source.js';
import { AnofairError } from '../errors/anofair-error.js';

export function registerKeygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('Create a new random pseudonymisation key file (32 bytes, base64, mode 0600). Keep it secret and backed up: the same key gives the same pseudonyms, UIDs and date shifts in every run.')
    .requiredOption('--out <file>', 'key file to create (never overwritten)')
    .action((flags: { out: string }) => {
      try {
        const id = writeNewKeyFile(flags.out);
        process.stdout.write(`wrote ${flags.out} (key id ${id})\n`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new AnofairError('IO', `${flags.out} exists; a key file is never overwritten`);
        throw new AnofairError('IO', `cannot write ${flags.out}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    });
}
