import { readFileSync } from 'node:fs';
import { deidSettingsSchema, type DeidSettings } from '../anonymizer/settings/deid-settings-schema.js';
import { AnofairError } from '../errors/anofair-error.js';
import {
  formatProblem,
  keysAllowedBySchema,
  locateProblems,
  problemsFromIssues,
  syntaxProblems,
  type ConfigProblem,
} from '../gateway/config/config-problems.js';
import { LocatedYaml } from '../gateway/config/yaml-locations.js';

/** One line for all problems (the CLI prints one line per bad file), each as `file:line:column key.path: message`. */
function fail(source: string, problems: ConfigProblem[]): never {
  const lines = problems.map((p) => formatProblem(source, p));
  throw new AnofairError('CONFIG_INVALID', lines.join('; '), { problems: lines });
}

/** The `deidentification:` section of a YAML configuration file (other sections belong to the gateway). */
export function readDeidSettings(path: string | undefined): DeidSettings {
  if (!path) return deidSettingsSchema.parse({});
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AnofairError('CONFIG_INVALID', `cannot read the configuration ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const yaml = new LocatedYaml(text);
  const syntax = syntaxProblems(yaml);
  if (syntax.length > 0) fail(path, syntax);
  const doc = yaml.doc.toJS() as { deidentification?: unknown } | null;
  const result = deidSettingsSchema.safeParse(doc?.deidentification ?? {}, { reportInput: true });
  if (!result.success) {
    const problems = problemsFromIssues(result.error.issues, { allowedKeys: (p) => keysAllowedBySchema(deidSettingsSchema, p) });
    fail(path, locateProblems(yaml, problems.map((p) => ({ ...p, path: ['deidentification', ...p.path] }))));
  }
  return result.data;
}
