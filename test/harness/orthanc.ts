import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';

/**
 * A real Orthanc (Debian bookworm: Orthanc 1.10 + DICOMweb plugin 1.7) for tests and benchmarks, started on
 * free loopback ports with a temporary storage folder. Tests must call stop() in an after() hook; an exit
 * hook also kills every Orthanc this process started, so a crashed test run leaves nothing behind.
 */

export const ORTHANC_BINARY = process.env.ANOFAIR_ORTHANC_BINARY ?? '/usr/sbin/Orthanc';
export const DICOMWEB_PLUGIN =
  process.env.ANOFAIR_ORTHANC_DICOMWEB_PLUGIN ?? '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

/** An entry of the DICOMweb plugin's "Servers" option: Orthanc acting as a DICOMweb client. */
export interface DicomWebServerEntry {
  url: string;
  /** Orthanc's default is chunked transfer encoding for STOW; false sends Content-Length. */
  chunkedTransfers?: boolean;
  httpHeaders?: Record<string, string>;
}

/** Orthanc's built-in HTTPS (SslEnabled), optionally asking clients for a certificate (SslVerifyPeers). */
export interface OrthancTls {
  /** One PEM file holding the private key and the certificate (Orthanc's SslCertificate). */
  certificateFile: string;
  /** PEM CA certificate(s) or client certificates Orthanc trusts (SslTrustedClientCertificates); set: mutual TLS. */
  trustedClientCertificatesFile?: string;
  /** How the harness itself connects: the CA that signed Orthanc's certificate, and for mutual TLS a client pair. */
  client: { ca: string; cert?: string; key?: string; servername?: string };
}

export interface OrthancOptions {
  /** Shown in Orthanc's /system and used as the AE title (upper-cased, at most 16 characters). */
  name?: string;
  /** DicomWeb "Servers": Orthanc as a DICOMweb client, e.g. pointed at the gateway. */
  dicomWebServers?: Record<string, DicomWebServerEntry>;
  /** Extra top-level configuration keys, merged last (e.g. { OverwriteInstances: true }). */
  extraConfig?: Record<string, unknown>;
  /** Extra keys of the "DicomWeb" section. */
  extraDicomWebConfig?: Record<string, unknown>;
  /** How long to wait for /system, in ms. */
  startTimeoutMs?: number;
  /** HTTPS on the HTTP port; url and dicomWebUrl are then https://. */
  tls?: OrthancTls;
}

export interface OrthancServer {
  /** Base URL of Orthanc's REST API, e.g. http://127.0.0.1:41234 (no trailing slash); https:// with tls. */
  readonly url: string;
  /** With tls: the dispatcher the helpers below connect with (the test CA, and the client pair if any). */
  readonly dispatcher?: Dispatcher;
  /** Base URL of its DICOMweb service: url + '/dicom-web' (no trailing slash). */
  readonly dicomWebUrl: string;
  readonly httpPort: number;
  readonly dicomPort: number;
  readonly aet: string;
  readonly storageDir: string;
  /** The last lines Orthanc wrote to stdout/stderr. */
  logTail(lines?: number): string;
  /** Stop Orthanc (SIGTERM, then SIGKILL after 10 s). Keeps the storage; idempotent. */
  stop(): Promise<void>;
  /** Start again on the same ports with the same storage (for "archive down, then up"). */
  restart(): Promise<void>;
  /** stop() and delete the storage folder. */
  dispose(): Promise<void>;
  /** Whether the process is running. */
  readonly running: boolean;
}

const LOG_LINES_KEPT = 400;

/**
 * sh -c script: run Orthanc ($1 = binary, $2 = config) in the background; stop it with SIGTERM when our
 * stdin closes or when the guard itself gets SIGTERM/SIGINT; exit with Orthanc's status. A background job of
 * a non-interactive shell reads /dev/null, hence the explicit fd 3 copy of stdin.
 */
const PARENT_DEATH_GUARD = [
  'exec 3<&0',
  '"$1" "$2" </dev/null & pid=$!',
  '(cat <&3 >/dev/null; kill -TERM $pid 2>/dev/null) & watcher=$!',
  'trap \'kill -TERM $pid 2>/dev/null\' TERM INT',
  'trap \'kill -KILL $pid 2>/dev/null\' USR1',
  'wait $pid; code=$?',
  // wait returns early when a trapped signal arrives: wait again for Orthanc to finish its shutdown.
  'while kill -0 $pid 2>/dev/null; do wait $pid; code=$?; done',
  'kill $watcher 2>/dev/null',
  'exit $code',
].join('\n');
const live = new Set<ChildProcess>();
let sslShimDir: string | undefined;

/**
 * Debian bookworm's civetweb (libcivetweb1 1.15, Orthanc's HTTP server) loads OpenSSL with dlopen("libssl.so")
 * and looks up SSL_get_peer_certificate, which OpenSSL 3 exports only as SSL_get1_peer_certificate: every HTTPS
 * connection then calls a null pointer and Orthanc dies (SIGSEGV in a civetweb-worker thread). For SslEnabled
 * the harness puts a libssl.so first on Orthanc's LD_LIBRARY_PATH that defines the old name and links the real
 * libssl.so.3, where dlsym finds every other function. Built once per process with cc.
 */
function civetwebSslShim(): string {
  if (sslShimDir) return sslShimDir;
  const dir = mkdtempSync(join(tmpdir(), 'anofair-civetweb-ssl-'));
  writeFileSync(
    join(dir, 'shim.c'),
    'typedef struct ssl_st SSL; typedef struct x509_st X509;\n' +
      'extern X509 *SSL_get1_peer_certificate(const SSL *s);\n' +
      'X509 *SSL_get_peer_certificate(const SSL *s) { return SSL_get1_peer_certificate(s); }\n',
  );
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'libssl.so'), join(dir, 'shim.c'), '-l:libssl.so.3'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot build the civetweb OpenSSL 3 shim for Orthanc's HTTPS (apt-get install gcc libssl3): ${(err as Error).message}`);
  }
  sslShimDir = dir;
  return dir;
}
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    // The guard forwards SIGTERM to Orthanc; our closing stdin pipe would stop it too.
    for (const child of live) child.kill('SIGTERM');
    if (sslShimDir) rmSync(sslShimDir, { recursive: true, force: true });
  });
}

/** A free loopback TCP port (the OS picks; it is released right before Orthanc binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * While Orthanc just runs, it must not keep the test process alive (a test that forgot stop() would hang the
 * run; the exit hook and the guard clean up instead). While we wait for it to start or stop, it must.
 */
function setReferenced(proc: ChildProcess, referenced: boolean): void {
  for (const handle of [proc, proc.stdin, proc.stdout, proc.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>) {
    if (referenced) handle?.ref?.();
    else handle?.unref?.();
  }
}

function serverEntries(servers: Record<string, DicomWebServerEntry> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(servers ?? {})) {
    out[name] = {
      Url: entry.url.endsWith('/') ? entry.url : `${entry.url}/`,
      ...(entry.chunkedTransfers === undefined ? {} : { ChunkedTransfers: entry.chunkedTransfers }),
      ...(entry.httpHeaders ? { HttpHeaders: entry.httpHeaders } : {}),
    };
  }
  return out;
}

export async function startOrthanc(options: OrthancOptions = {}): Promise<OrthancServer> {
  installExitHook();
  const name = options.name ?? 'ANOFAIR-TEST';
  const aet = name.toUpperCase().replace(/[^A-Z0-9_\-]/g, '_').slice(0, 16);
  const storageDir = await mkdtemp(join(tmpdir(), 'anofair-orthanc-'));
  const httpPort = await freePort();
  let dicomPort = await freePort();
  while (dicomPort === httpPort) dicomPort = await freePort();

  const config = {
    Name: name,
    StorageDirectory: join(storageDir, 'db'),
    IndexDirectory: join(storageDir, 'db'),
    StorageCompression: false,
    HttpPort: httpPort,
    HttpServerEnabled: true,
    HttpDescribeErrors: true,
    HttpCompressionEnabled: false,
    // Loopback only: Orthanc refuses non-local clients and needs no credentials.
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomServerEnabled: true,
    DicomAet: aet,
    DicomPort: dicomPort,
    DicomCheckCalledAet: false,
    UnknownSopClassAccepted: true,
    OrthancExplorerEnabled: false,
    WebDavEnabled: false,
    SaveJobs: false,
    Plugins: [DICOMWEB_PLUGIN],
    ...(options.tls
      ? {
          SslEnabled: true,
          SslCertificate: options.tls.certificateFile,
          ...(options.tls.trustedClientCertificatesFile
            ? { SslVerifyPeers: true, SslTrustedClientCertificates: options.tls.trustedClientCertificatesFile }
            : {}),
        }
      : {}),
    DicomWeb: {
      Enable: true,
      Root: '/dicom-web/',
      EnableWado: true,
      WadoRoot: '/wado',
      // No "Host": the plugin builds RetrieveURL/BulkDataURI from the request (Forwarded / Host headers),
      // so answers relayed by the gateway point back at the gateway.
      Ssl: false,
      Servers: serverEntries(options.dicomWebServers),
      ...options.extraDicomWebConfig,
    },
    ...options.extraConfig,
  };
  const configPath = join(storageDir, 'orthanc.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));

  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${httpPort}`;
  const dispatcher = options.tls ? new Agent({ connect: { ...options.tls.client } }) : undefined;
  const logLines: string[] = [];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const logTail = (lines = 60): string => [...logLines, ...(partial ? [partial] : [])].slice(-lines).join('\n');

  // Orthanc writes a log line in several pieces: keep the unfinished one until its newline comes.
  let partial = '';
  const capture = (chunk: Buffer): void => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.length === 0) continue;
      logLines.push(line);
      if (logLines.length > LOG_LINES_KEPT) logLines.shift();
    }
  };

  const launch = async (): Promise<void> => {
    // The shell guard ends Orthanc when our stdin pipe closes, i.e. when this process dies in any way
    // (even SIGKILL), so a killed test run never leaves an Orthanc behind.
    const proc = spawn('/bin/sh', ['-c', PARENT_DEATH_GUARD, 'orthanc-guard', ORTHANC_BINARY, configPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.tls ? { ...process.env, LD_LIBRARY_PATH: [civetwebSslShim(), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } : process.env,
    });
    child = proc;
    live.add(proc);
    proc.stdout?.on('data', capture);
    proc.stderr?.on('data', capture);
    let exitInfo: string | null = null;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitInfo = `exit code ${code ?? 'none'}, signal ${signal ?? 'none'}`;
        live.delete(proc);
        if (child === proc) child = null;
        resolve();
      });
      proc.once('error', (err) => {
        exitInfo = `spawn failed: ${err.message}`;
        live.delete(proc);
        if (child === proc) child = null;
        resolve();
      });
    });
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (exitInfo) break;
      try {
        const res = await orthancFetch({ url, dispatcher }, '/system', { signal: AbortSignal.timeout(1_000) });
        // 401: Orthanc is up with AuthenticationEnabled (the test talks to it with credentials).
        if (res.ok || res.status === 401) {
          await res.arrayBuffer();
          setReferenced(proc, false);
          return;
        }
        await res.arrayBuffer();
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const why = exitInfo ?? 'no answer on /system before the timeout';
    if (child === proc) proc.kill('SIGUSR1'); // guard: SIGKILL to Orthanc
    await exited;
    throw new Error(
      `Orthanc "${name}" did not start on ${url} (${why}). Config: ${configPath}\n--- Orthanc log tail ---\n${logTail()}`,
    );
  };

  const stop = async (): Promise<void> => {
    const proc: ChildProcess | null = child;
    if (!proc) return;
    setReferenced(proc, true);
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGUSR1'), 10_000); // guard: SIGKILL to Orthanc
    timer.unref();
    await exited;
    clearTimeout(timer);
  };

  await launch();

  return {
    url,
    dispatcher,
    dicomWebUrl: `${url}/dicom-web`,
    httpPort,
    dicomPort,
    aet,
    storageDir,
    logTail,
    stop,
    async restart() {
      await stop();
      await launch();
    },
    async dispose() {
      await stop();
      await dispatcher?.close();
      await rm(storageDir, { recursive: true, force: true });
    },
    get running() {
      return child !== null;
    },
  };
}

/** An Orthanc to talk to: its URL, and for HTTPS the dispatcher that trusts it. */
type OrthancTarget = Pick<OrthancServer, 'url'> & { dispatcher?: Dispatcher };

interface OrthancRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  signal?: AbortSignal;
}

/** fetch against Orthanc: Node's own, or undici's with the server's dispatcher when it speaks HTTPS. */
async function orthancFetch(server: OrthancTarget, path: string, init: OrthancRequest = {}): Promise<Response> {
  if (!server.dispatcher) return fetch(`${server.url}${path}`, init);
  return (await undiciFetch(`${server.url}${path}`, { ...init, dispatcher: server.dispatcher })) as unknown as Response;
}

/** Store one Part 10 file through Orthanc's native REST API (not DICOMweb); returns Orthanc's answer. */
export async function uploadInstance(
  server: OrthancTarget,
  bytes: Uint8Array,
): Promise<{ ID: string; ParentStudy: string; Status: string }> {
  const res = await orthancFetch(server, '/instances', {
    method: 'POST',
    headers: { 'content-type': 'application/dicom' },
    body: new Uint8Array(bytes) as Uint8Array<ArrayBuffer>,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`Orthanc refused the upload: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as { ID: string; ParentStudy: string; Status: string };
}

/** GET a JSON document from Orthanc's REST API. */
export async function orthancJson<T = unknown>(server: OrthancTarget, path: string): Promise<T> {
  const res = await orthancFetch(server, path);
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** The Orthanc id of the instance with this SOP Instance UID, or null. */
export async function lookupInstance(server: OrthancTarget, sopInstanceUID: string): Promise<string | null> {
  const res = await orthancFetch(server, '/tools/lookup', { method: 'POST', body: sopInstanceUID });
  const found = (await res.json()) as Array<{ ID: string; Type: string }>;
  return found.find((f) => f.Type === 'Instance')?.ID ?? null;
}

/** The stored Part 10 bytes of an instance, by Orthanc id. */
export async function instanceFile(server: OrthancTarget, orthancId: string): Promise<Uint8Array> {
  const res = await orthancFetch(server, `/instances/${orthancId}/file`);
  if (!res.ok) throw new Error(`GET /instances/${orthancId}/file: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
