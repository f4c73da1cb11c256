import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { ZodError } from 'zod';
import { deidSettingsSchema, type DeidSettings } from '../anonymizer/settings/deid-settings-schema.js';
import { AnofairError } from '../errors/anofair-error.js';

/** One line per problem, with the key path, so a user can find and fix it. */
export function describeZodError(error: ZodError, prefix: string): string {
  return error.issues
    .map((issue) => `${[prefix, ...issue.path.map(String)].filter(Boolean).join('.')}: ${issue.message}`)
    .join('; ');
}

/** The `deidentification:` section of a YAML configuration file (other sections belong to the gateway). */
export function readDeidSettings(path: string | undefined): DeidSettings {
  let section: unknown = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new AnofairError('CONFIG_INVALID', `cannot read the configuration ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    let doc: unknown;
    try {
      doc = parse(text) ?? {};
    } catch (err) {
      throw new AnofairError('CONFIG_INVALID', `${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    section = (doc as Record<string, unknown>).deidentification ?? {};
  }
  const result = deidSettingsSchema.safeParse(section);
  if (!result.success) throw new AnofairError('CONFIG_INVALID', `${path ?? 'configuration'}: ${describeZodError(result.error, 'deidentification')}`);
  return result.data;
}
