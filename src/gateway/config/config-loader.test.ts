import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { AnofairError } from '../../errors/anofair-error.js';
import { loadConfig, parseConfig } from './config-loader.js';
import { gatewayConfigSchema } from './config-schema.js';

const EXAMPLE = fileURLToPath(new URL('../../../../config/anofair.example.yaml', import.meta.url));

function problems(text: string, overrides = {}): string {
  try {
    parseConfig(text, { source: 'gw.yaml', overrides });
  } catch (err) {
    assert.ok(err instanceof AnofairError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.message;
  }
  assert.fail('expected the configuration to be refused');
}

type Node = { _zod: { def: { type: string; innerType?: Node; valueType?: Node; shape?: Record<string, Node> } }; shape?: Record<string, Node> };

function unwrap(n: Node): Node {
  while (['default', 'optional', 'nullable', 'prefault'].includes(n._zod.def.type)) n = n._zod.def.innerType!;
  return n;
}

/** Every key path of the schema; records are walked through the entries the example gives. */
function schemaPaths(node: Node, example: unknown, prefix: string[] = []): string[][] {
  const n = unwrap(node);
  const out: string[][] = [];
  if (n._zod.def.type === 'object' && n.shape) {
    for (const [key, child] of Object.entries(n.shape)) {
      out.push([...prefix, key]);
      const sub = (example as Record<string, unknown> | undefined)?.[key];
      out.push(...schemaPaths(child, sub, [...prefix, key]));
    }
  } else if (n._zod.def.type === 'record' && example && typeof example === 'object') {
    for (const [key, value] of Object.entries(example)) out.push(...schemaPaths(n._zod.def.valueType!, value, [...prefix, key]));
  }
  return out;
}

describe('gateway configuration', () => {
  it('documents every key of the schema in config/anofair.example.yaml, and the example is valid', async () => {
    const text = await readFile(EXAMPLE, 'utf8');
    const config = parseConfig(text, { source: EXAMPLE, baseDir: join(EXAMPLE, '..') });
    assert.equal(config.server.port, 8080);
    assert.equal(config.rules, join(EXAMPLE, '..', 'rules.default.yaml'), 'relative paths are relative to the file');
    const example = parse(text) as Record<string, unknown>;
    // A key shown in a comment ("# keyId: ...", "# basicAuth: { username: ... }") counts as documented.
    const commentLines = text.split('\n').filter((l) => l.trimStart().startsWith('#'));
    const commented = new Set(commentLines.flatMap((l) => [...l.matchAll(/([A-Za-z]+):/g)].map((m) => m[1])));
    const missing = schemaPaths(gatewayConfigSchema as unknown as Node, example).filter((path) => {
      let v: unknown = example;
      for (const p of path) v = (v as Record<string, unknown> | undefined)?.[p];
      return v === undefined && !commented.has(path[path.length - 1]!);
    });
    assert.deepEqual(missing.map((p) => p.join('.')), [], 'keys missing from the example');
  });

  it('starts on embedded defaults without a file and says what it proxies to', async () => {
    const { config, source } = await loadConfig(undefined);
    assert.equal(source, 'embedded defaults');
    assert.equal(config.upstream.url, 'http://127.0.0.1:8042/dicom-web');
    assert.equal(config.destinations.research?.url, 'http://127.0.0.1:8043/dicom-web');
    assert.equal(config.rules, undefined);
    assert.equal(config.stow.tap, true);
  });

  it('lets flags override the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anofair-cfg-'));
    try {
      const file = join(dir, 'gw.yaml');
      await writeFile(file, 'upstream: { url: http://pacs.example/dicom-web }\ndestinations:\n  research: { url: http://old.example/dicom-web, maxBatchInstances: 5 }\ndata: state\n');
      const { config } = await loadConfig(file, { port: 9999, upstream: 'http://other.example:8042/dicom-web', archive: 'http://new.example/dicom-web' });
      assert.equal(config.server.port, 9999);
      assert.equal(config.upstream.url, 'http://other.example:8042/dicom-web');
      assert.equal(config.destinations.research?.url, 'http://new.example/dicom-web');
      assert.equal(config.destinations.research?.maxBatchInstances, 5, '--archive keeps the other keys of research');
      assert.equal(config.data, join(dir, 'state'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('freezes the result, deeply', () => {
    const config = parseConfig('upstream: { url: http://pacs/dicom-web }');
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.upstream));
    assert.ok(Object.isFrozen(config.forwarding.retry.networkErrors));
    assert.throws(() => {
      (config.server as { port: number }).port = 1;
    }, TypeError);
  });

  it('names an unknown key with its path and line, and suggests the right one', () => {
    const message = problems('upstream:\n  url: http://pacs/dicom-web\n  conectTimeoutMs: 5\n');
    assert.match(message, /gw\.yaml:3:3 upstream\.conectTimeoutMs: unknown key "conectTimeoutMs" \(hint: did you mean "connectTimeoutMs"\?\)/);
  });

  it('points renamed or misplaced keys to where they belong', () => {
    const message = problems('port: 8080\nupstreamUrl: http://pacs/dicom-web\nupstream: { url: http://pacs/dicom-web }\n');
    assert.match(message, /gw\.yaml:1:1 port: unknown key "port" \(hint: use server\.port\)/);
    assert.match(message, /upstreamUrl: unknown key "upstreamUrl" \(hint: use upstream\.url\)/);
    assert.match(message, /2 problems/);
  });

  it('reports every wrong value at once, with paths', () => {
    const message = problems(
      [
        'server: { port: "eighty" }',
        'upstream: { url: ftp://pacs/dicom-web, stowPartTransferSyntax: strp }',
        'destinations:',
        '  research: { url: "not a url" }',
        '  "bad name!": { url: http://x/dicom-web }',
        'logging: { level: loud }',
      ].join('\n'),
    );
    assert.match(message, /server\.port: .*number/i);
    assert.match(message, /upstream\.url: expected an http\(s\) URL/);
    assert.match(message, /upstream\.stowPartTransferSyntax: "strp" is not one of: strip, keep \(hint: did you mean "strip"\?\)/);
    assert.match(message, /destinations\.research\.url: expected an http\(s\) URL/);
    assert.match(message, /destination name is letters/);
    assert.match(message, /logging\.level: "loud" is not one of/);
  });

  it('says when a required key is missing, and when the YAML does not parse', () => {
    assert.match(problems('server: { port: 1 }\n'), /\(top level\)\.upstream|upstream: the required key "upstream" is missing|the required key "upstream" is missing/);
    assert.match(problems('upstream: {}\n'), /upstream\.url: the required key "url" is missing/);
    assert.match(problems('upstream: [\n'), /YAML syntax/);
    assert.match(problems('- a\n- b\n'), /must be a mapping/);
  });

  it('refuses a configuration file that cannot be read, with the path', async () => {
    await assert.rejects(loadConfig('/nonexistent/anofair.yaml'), /cannot read the configuration file \/nonexistent\/anofair\.yaml: ENOENT/);
  });
});
