import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type ConfigOverrides } from '../gateway/config/config-loader.js';
import { createGateway } from '../gateway/server.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a TCP port number from 0 to 65535');
  return n;
}

function httpUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'http:' || u.protocol === 'https:') return value;
  } catch {
    // fall through
  }
  throw new InvalidArgumentError('expected an http(s) URL of a DICOMweb root, e.g. http://pacs.example:8042/dicom-web');
}

interface ServeFlags extends ConfigOverrides {
  config?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'Run the gateway: a DICOMweb proxy (QIDO-RS, WADO-RS, STOW-RS) in front of the clinical PACS that copies the ' +
        'instances the routing rules select, de-identified, to research archives. Without --config it runs on ' +
        'embedded defaults (PACS http://127.0.0.1:8042/dicom-web, archive "research" http://127.0.0.1:8043/dicom-web, ' +
        'state under ./anofair-data, the shipped routing rules) and prints what it proxies to.',
    )
    .option('--config <file>', 'YAML configuration (every key: config/anofair.example.yaml)')
    .option('--port <port>', 'TCP port to listen on (server.port)', port)
    .option('--host <address>', 'interface to listen on (server.host), e.g. 0.0.0.0')
    .option('--upstream <url>', 'DICOMweb base URL of the clinical PACS (upstream.url)', httpUrl)
    .option('--archive <url>', 'DICOMweb base URL of the research archive, the destination named "research"', httpUrl)
    .option('--data <dir>', 'folder for the spool, queue and state (data)')
    .option('--rules <file>', 'routing rules YAML (rules); default: the shipped rules')
    .action(async (flags: ServeFlags) => {
      const { config, source } = await loadConfig(flags.config, {
        port: flags.port,
        host: flags.host,
        upstream: flags.upstream,
        archive: flags.archive,
        data: flags.data,
        rules: flags.rules,
      });
      const gateway = await createGateway(config, { configSource: source });
      await gateway.start();
      process.stdout.write(`${gateway.describe().join('\n')}\n  configuration:       ${source}\n`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: NodeJS.Signals): void => {
          if (stopping) return;
          stopping = true;
          process.stdout.write(`${signal}: stopping (queued instances stay queued)\n`);
          gateway.stop().then(resolve, (err: unknown) => {
            process.stderr.write(`anofair: error while stopping: ${(err as Error).message}\n`);
            process.exitCode = 1;
            resolve();
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
