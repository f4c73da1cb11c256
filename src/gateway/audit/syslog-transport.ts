import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { clientTlsOptions, type ClientTlsOptions } from '../tls/tls-client-options.js';
import type { AuditSyslogConfig } from './audit-config.js';
import { octetCounted } from './syslog-format.js';

/**
 * How syslog messages reach the collector. send() resolves once the messages are handed to the operating
 * system and rejects when they could not be (no connection, a connection that broke, a timeout); the caller
 * keeps its cursor where it was and sends them again.
 */
export interface SyslogTransport {
  send(messages: readonly Buffer[]): Promise<void>;
  close(): Promise<void>;
}

/** RFC 5426: one message per datagram; nothing tells the sender whether it arrived. */
class UdpTransport implements SyslogTransport {
  private socket?: UdpSocket;

  constructor(private readonly c: AuditSyslogConfig) {}

  async send(messages: readonly Buffer[]): Promise<void> {
    if (!this.socket) {
      const socket = createSocket(isIP(this.c.host) === 6 ? 'udp6' : 'udp4');
      // an ICMP "port unreachable" surfaces here; the next send tries a fresh socket
      socket.on('error', () => {
        socket.close();
        if (this.socket === socket) this.socket = undefined;
      });
      socket.unref();
      this.socket = socket;
    }
    const socket = this.socket;
    for (const m of messages) {
      await new Promise<void>((resolve, reject) => socket.send(m, this.c.port, this.c.host, (err) => (err ? reject(err) : resolve())));
    }
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/** RFC 5425 (TLS) and RFC 6587 (TCP): one long-lived connection, each message framed by its octet count. */
class StreamTransport implements SyslogTransport {
  private socket?: Socket;
  private tls?: ClientTlsOptions;

  constructor(private readonly c: AuditSyslogConfig) {
    // the PEM files are read now, so that a wrong one fails the start rather than the first export
    if (c.transport === 'tls') this.tls = clientTlsOptions('audit.syslog.tls', c.tls);
  }

  private connect(): Promise<Socket> {
    const { host, port, connectTimeoutMs } = this.c;
    return new Promise<Socket>((resolve, reject) => {
      const socket = this.tls
        ? tlsConnect({ host, port, ...this.tls, servername: this.tls.servername ?? (isIP(host) ? undefined : host) })
        : tcpConnect({ host, port });
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`no connection within ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), connectTimeoutMs);
      const failed = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', failed);
      socket.once(this.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        // a collector that closes its side, or a broken connection, ends this one: the next send reconnects
        const drop = (): void => {
          socket.destroy();
          if (this.socket === socket) this.socket = undefined;
        };
        socket.on('error', drop);
        socket.on('end', drop);
        socket.on('close', drop);
        socket.on('data', () => undefined);
        socket.setNoDelay(true);
        socket.unref();
        resolve(socket);
      });
    });
  }

  async send(messages: readonly Buffer[]): Promise<void> {
    // a close the collector already sent is seen before anything is written into its connection
    await new Promise((resolve) => setImmediate(resolve));
    if (!this.socket || this.socket.destroyed) this.socket = await this.connect();
    const socket = this.socket;
    const body = Buffer.concat(messages.map(octetCounted));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(Object.assign(new Error(`the collector took no data for ${this.c.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, this.c.connectTimeoutMs);
      socket.write(body, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
  }
}

export function syslogTransport(c: AuditSyslogConfig): SyslogTransport {
  return c.transport === 'udp' ? new UdpTransport(c) : new StreamTransport(c);
}
