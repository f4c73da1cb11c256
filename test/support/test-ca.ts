import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throw-away certificate authority for TLS tests, made with the openssl CLI in a temporary folder: a CA, and
 * server and client certificates it signs (P-256 keys: fast to make). Nothing here is trusted outside the test.
 */

export const OPENSSL = process.env.ANOFAIR_OPENSSL ?? 'openssl';

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  /** Key then certificate in one PEM file (Orthanc's SslCertificate). */
  pemFile: string;
  cert: string;
  key: string;
}

export interface TestCa {
  readonly dir: string;
  /** The CA certificate (PEM): trust this to verify what the CA issued. */
  readonly caFile: string;
  readonly ca: string;
  /** A server certificate: SAN IP:127.0.0.1 and DNS:localhost, unless `san` says otherwise. */
  issueServer(name: string, san?: string): IssuedCertificate;
  /** A client certificate (extendedKeyUsage clientAuth) with CN `name`. */
  issueClient(name: string): IssuedCertificate;
  dispose(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString('utf8') ?? '';
    throw new Error(`openssl ${args[0]} failed (install the Debian package "openssl"): ${(err as Error).message}\n${stderr}`);
  }
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function createTestCa(label = 'AnoFAIR Test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'anofair-ca-'));
  const caFile = join(dir, 'ca.crt');
  openssl(
    ['req', '-x509', ...KEY_ARGS, '-keyout', 'ca.key', '-out', caFile, '-days', '2', '-subj', `/CN=${label}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  let serial = 1;
  const issue = (name: string, extensions: string): IssuedCertificate => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    const pemFile = join(dir, `${name}.pem`);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(['req', ...KEY_ARGS, '-keyout', keyFile, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', caFile, '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', '2', '-extfile', `${name}.ext`, '-out', certFile], dir);
    const cert = readFileSync(certFile, 'utf8');
    const key = readFileSync(keyFile, 'utf8');
    writeFileSync(pemFile, key + cert);
    return { certFile, keyFile, pemFile, cert, key };
  };
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issueServer: (name, san = 'IP:127.0.0.1,DNS:localhost') =>
      issue(name, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`),
    issueClient: (name) => issue(name, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
