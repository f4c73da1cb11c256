import { createHash } from 'node:crypto';
import type { DeidentifyOptions } from '../deid-types.js';
import type { DeidSettings } from './deid-settings-schema.js';
import { loadPseudonymKey } from './key-source.js';
import { loadSubjectLookup } from './subject-lookup.js';

/** Turn validated settings into the engine's options: the one place that reads the key and lookup files. */
export function resolveDeidOptions(settings: DeidSettings, env: NodeJS.ProcessEnv = process.env): DeidentifyOptions {
  const key = loadPseudonymKey(settings, env);
  const configHash = `sha256:${createHash('sha256').update(JSON.stringify({ ...settings, keyFile: undefined })).digest('hex').slice(0, 16)}`;
  return {
    options: settings.options,
    key,
    subjectLookup: settings.subjectLookup ? loadSubjectLookup(settings.subjectLookup) : undefined,
    dateShiftDays: settings.dateShiftDays,
    cleaningPolicy: settings.cleaningPolicy,
    burnedInPresumption: settings.burnedInPresumption,
    configHash,
  };
}
