import { Command, CommanderError } from 'commander';
import { describeError } from '../errors/anofair-error.js';
import { registerAuditCommand } from './audit-command.js';
import { registerDeidentifyCommand } from './deidentify-command.js';
import { registerEvalCommand } from './eval-command.js';
import { registerExportCommand } from './export-command.js';
import { registerPhantomsCommand } from './phantoms-command.js';
import { registerKeygenCommand } from './keygen-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerTokenCommand } from './token-command.js';

/** Each subcommand lives in its own file and registers itself here. */
const SUBCOMMANDS: Array<(program: Command) => void> = [registerAuditCommand, registerDeidentifyCommand, registerEvalCommand, registerExportCommand, registerKeygenCommand, registerPhantomsCommand, registerServeCommand, registerTokenCommand];

export function buildProgram(): Command {
  const program = new Command('anofair')
    .description(
      'AnoFAIR Gateway: a DICOMweb gateway between a clinical PACS and research archives, with PS3.15 ' +
        'de-identification (keyed pseudonyms, UIDs and date shifts) and pixel anonymization of chest radiographs (CXR-AnoFAIR).',
    )
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of SUBCOMMANDS) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`anofair: ${describeError(err)}\n`);
    process.exitCode = 2;
  }
}
