import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { AnofairError } from '../../errors/anofair-error.js';
import {
  formatProblem,
  keysAllowedBySchema,
  locateProblems,
  problemsFromIssues,
  problemsReport,
  syntaxProblems,
  type ConfigProblem,
  type KeyVocabulary,
} from './config-problems.js';
import { EMBEDDED_DEFAULTS } from './default-config.js';
import { gatewayConfigSchema, RENAMED_KEYS, type GatewayConfig } from './config-schema.js';
import { LocatedYaml } from './yaml-locations.js';

/** Values from command-line flags; they replace the file's values before validation. */
export interface ConfigOverrides {
  port?: number;
  host?: string;
  upstream?: string;
  /** URL of the destination named `research`. */
  archive?: string;
  data?: string;
  rules?: string;
}

export interface LoadedConfig {
  config: Readonly<GatewayConfig>;
  /** The file it came from, or 'embedded defaults'. */
  source: string;
}

const vocabulary: KeyVocabulary = {
  allowedKeys: (path) => keysAllowedBySchema(gatewayConfigSchema, path),
  renamedKeys: RENAMED_KEYS,
  // The habits this file knows are top-level keys (port, pacsUrl, ...).
  renameFits: (_target, path) => path.length === 0,
  exactRenameFirst: true,
};

function fail(source: string, problems: ConfigProblem[]): never {
  const lines = problems.map((p) => formatProblem(source, p));
  throw new AnofairError('CONFIG_INVALID', problemsReport(source, 'configuration', lines), { problems: lines });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Flags replace file values; `--archive` sets destinations.research.url and keeps its other keys. */
function applyOverrides(raw: Record<string, unknown>, o: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const section = (name: string): Record<string, unknown> => {
    const current = out[name];
    const copy = isPlainObject(current) ? { ...current } : {};
    out[name] = copy;
    return copy;
  };
  if (o.port !== undefined) section('server').port = o.port;
  if (o.host !== undefined) section('server').host = o.host;
  if (o.upstream !== undefined) section('upstream').url = o.upstream;
  if (o.archive !== undefined) {
    const destinations = section('destinations');
    const research = isPlainObject(destinations.research) ? destinations.research : {};
    destinations.research = { ...research, url: o.archive };
  }
  if (o.data !== undefined) out.data = resolve(o.data);
  if (o.rules !== undefined) out.rules = resolve(o.rules);
  return out;
}

/** Paths written in a file are relative to the file's folder, as a reader of the file expects. */
function resolvePaths(config: GatewayConfig, base: string): GatewayConfig {
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(base, p));
  // The PEM files of server.tls, upstream.tls, destinations.<name>.tls and audit.syslog.tls; a section without tls stays so.
  const withTls = <S extends { tls?: object }>(section: S): S => {
    if (!section.tls) return section;
    const tls: Record<string, unknown> = { ...section.tls };
    for (const k of ['caFile', 'certFile', 'keyFile']) if (typeof tls[k] === 'string') tls[k] = abs(tls[k] as string);
    return { ...section, tls };
  };
  return {
    ...config,
    server: withTls(config.server),
    upstream: withTls(config.upstream),
    destinations: Object.fromEntries(Object.entries(config.destinations).map(([name, d]) => [name, withTls(d)])),
    audit: config.audit.syslog ? { ...config.audit, syslog: withTls(config.audit.syslog) } : config.audit,
    data: abs(config.data)!,
    rules: abs(config.rules),
    deidentification: {
      ...config.deidentification,
      keyFile: abs(config.deidentification.keyFile),
      subjectLookup: abs(config.deidentification.subjectLookup),
    },
  };
}

/**
 * Validate configuration text (YAML). Every problem is reported at once, each with its key path, line and a hint;
 * the result is deeply frozen. `baseDir` anchors relative paths (the file's folder).
 */
export function parseConfig(text: string, options: { source?: string; baseDir?: string; overrides?: ConfigOverrides } = {}): Readonly<GatewayConfig> {
  const source = options.source ?? 'configuration';
  const yaml = new LocatedYaml(text);
  const syntax = syntaxProblems(yaml);
  if (syntax.length > 0) fail(source, syntax);
  const data = yaml.doc.toJS() as unknown;
  if (data !== null && data !== undefined && !isPlainObject(data)) {
    fail(source, [{ path: [], message: 'the configuration must be a mapping of keys (server:, upstream:, ...)' }]);
  }
  const raw = applyOverrides((data as Record<string, unknown> | null) ?? {}, options.overrides ?? {});
  const parsed = gatewayConfigSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) fail(source, locateProblems(yaml, problemsFromIssues(parsed.error.issues, vocabulary)));
  return deepFreeze(resolvePaths(parsed.data, options.baseDir ?? process.cwd()));
}

/** Load the configuration file, or the embedded defaults when there is none; flags override either. */
export async function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): Promise<LoadedConfig> {
  if (file === undefined) {
    return { config: parseConfig(EMBEDDED_DEFAULTS, { source: 'embedded defaults', overrides }), source: 'embedded defaults' };
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AnofairError('CONFIG_INVALID', `cannot read the configuration file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { config: parseConfig(text, { source: file, baseDir: dirname(resolve(file)), overrides }), source: file };
}
