import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

/**
 * A syslog collector for tests, on a loopback port: UDP (RFC 5426, one message per datagram), TCP (RFC 6587
 * octet counting) or TLS (RFC 5425). Every message is parsed strictly against the RFC 5424 grammar; what does
 * not parse is kept in `errors`, never silently dropped. stop() and start() again reuse the port, so a test can
 * take the collector down and bring it back.
 */

export interface SyslogMessage {
  raw: Buffer;
  pri: number;
  facility: number;
  severity: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  structuredData: string;
  /** Whether MSG started with the UTF-8 byte order mark (RFC 5424 6.4). */
  bom: boolean;
  /** MSG as UTF-8 text, without the BOM. */
  msg: string;
}

export interface CollectorTls {
  key: string;
  cert: string;
  /** Ask for and check a client certificate signed by this CA. */
  ca?: string;
}

export interface SyslogCollector {
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly port: number;
  readonly messages: SyslogMessage[];
  /** Messages or frames that did not parse, with the reason. */
  readonly errors: string[];
  /** Connections accepted (tcp, tls). */
  readonly connections: number;
  readonly running: boolean;
  start(): Promise<void>;
  /** Stop listening and drop every open connection. */
  stop(): Promise<void>;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** RFC 5424 6.2.3 TIMESTAMP: FULL-DATE "T" FULL-TIME (RFC 3339, at most 6 fraction digits). */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

function headerField(name: string, value: string, max: number): string {
  if (value.length < 1 || value.length > max || !/^[!-~]+$/.test(value)) throw new Error(`${name} "${value.slice(0, 40)}" is not 1 to ${max} printable ASCII characters`);
  return value;
}

/** Parse one SYSLOG-MSG (RFC 5424 6); throws with what is wrong. */
export function parseSyslogMessage(raw: Buffer): SyslogMessage {
  const m = /^<(\d{1,3})>1 /.exec(raw.subarray(0, 8).toString('latin1'));
  if (!m) throw new Error('no "<PRI>1 " at the start');
  const pri = Number(m[1]);
  if (pri > 191 || (m[1]!.length > 1 && m[1]!.startsWith('0'))) throw new Error(`PRI ${m[1]} is out of range`);
  let at = m[0].length;
  const next = (): string => {
    const space = raw.indexOf(0x20, at);
    if (space === -1) throw new Error('the header ends early');
    const value = raw.subarray(at, space).toString('latin1');
    at = space + 1;
    return value;
  };
  const timestamp = next();
  if (timestamp !== '-' && !TIMESTAMP.test(timestamp)) throw new Error(`TIMESTAMP "${timestamp}" is not RFC 3339`);
  const hostname = headerField('HOSTNAME', next(), 255);
  const appName = headerField('APP-NAME', next(), 48);
  const procId = headerField('PROCID', next(), 128);
  const msgId = headerField('MSGID', next(), 32);
  let structuredData: string;
  if (raw[at] === 0x2d /* - */) {
    structuredData = '-';
    at++;
  } else if (raw[at] === 0x5b /* [ */) {
    const end = raw.indexOf(0x5d, at);
    if (end === -1) throw new Error('STRUCTURED-DATA is not closed');
    structuredData = raw.subarray(at, end + 1).toString('utf8');
    at = end + 1;
  } else throw new Error('no STRUCTURED-DATA');
  let msg = '';
  let bom = false;
  if (at < raw.length) {
    if (raw[at] !== 0x20) throw new Error('no space before MSG');
    let body = raw.subarray(at + 1);
    bom = body.subarray(0, 3).equals(BOM);
    if (bom) body = body.subarray(3);
    msg = new TextDecoder('utf-8', { fatal: true }).decode(body);
  }
  return { raw, pri, facility: pri >> 3, severity: pri & 7, timestamp, hostname, appName, procId, msgId, structuredData, bom, msg };
}

/** Split an octet-counted stream (RFC 5425 4.3): MSG-LEN SP SYSLOG-MSG ...; returns the frames and what is left. */
function takeFrames(buffer: Buffer): { frames: Buffer[]; rest: Buffer; error?: string } {
  const frames: Buffer[] = [];
  let at = 0;
  while (at < buffer.length) {
    const space = buffer.indexOf(0x20, at);
    if (space === -1) {
      if (buffer.length - at > 10) return { frames, rest: buffer.subarray(at), error: 'no MSG-LEN within 10 octets' };
      break;
    }
    const text = buffer.subarray(at, space).toString('latin1');
    if (!/^[1-9][0-9]{0,9}$/.test(text)) return { frames, rest: Buffer.alloc(0), error: `MSG-LEN "${text.slice(0, 12)}" is not a number` };
    const length = Number(text);
    if (buffer.length < space + 1 + length) break;
    frames.push(buffer.subarray(space + 1, space + 1 + length));
    at = space + 1 + length;
  }
  return { frames, rest: buffer.subarray(at) };
}

export async function startSyslogCollector(options: { transport: 'udp' | 'tcp' | 'tls'; port?: number; tls?: CollectorTls }): Promise<SyslogCollector> {
  const messages: SyslogMessage[] = [];
  const errors: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let port = options.port ?? 0;
  let udp: UdpSocket | undefined;
  let server: Server | undefined;

  const accept = (frame: Buffer): void => {
    try {
      messages.push(parseSyslogMessage(Buffer.from(frame)));
    } catch (err) {
      errors.push((err as Error).message);
    }
  };

  const onConnection = (socket: Socket): void => {
    connections++;
    sockets.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const { frames, rest, error } = takeFrames(Buffer.concat([pending, chunk]));
      for (const f of frames) accept(f);
      pending = rest;
      if (error) {
        errors.push(`framing: ${error}`);
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (pending.length > 0) errors.push(`framing: ${pending.length} octets of an unfinished frame when the connection closed`);
      sockets.delete(socket);
    });
  };

  const collector: SyslogCollector = {
    transport: options.transport,
    get port() {
      return port;
    },
    messages,
    errors,
    get connections() {
      return connections;
    },
    get running() {
      return udp !== undefined || server !== undefined;
    },
    async start() {
      if (udp || server) return;
      if (options.transport === 'udp') {
        const socket = createSocket('udp4');
        socket.on('message', (msg) => accept(msg));
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(port, '127.0.0.1', () => resolve());
        });
        port = socket.address().port;
        udp = socket;
        return;
      }
      const s =
        options.transport === 'tls'
          ? createTlsServer({ key: options.tls!.key, cert: options.tls!.cert, ...(options.tls!.ca ? { ca: options.tls!.ca, requestCert: true, rejectUnauthorized: true } : {}) }, onConnection)
          : createTcpServer(onConnection);
      if (options.transport === 'tls') s.on('tlsClientError', (err: Error) => errors.push(`tls: ${err.message}`));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      port = (s.address() as { port: number }).port;
      server = s;
    },
    async stop() {
      if (udp) {
        const socket = udp;
        udp = undefined;
        await new Promise<void>((resolve) => socket.close(() => resolve()));
      }
      if (server) {
        const s = server;
        server = undefined;
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
  };
  await collector.start();
  return collector;
}
