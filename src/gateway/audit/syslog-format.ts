/**
 * RFC 5424 syslog messages and the octet-counting framing of RFC 5425 (TLS) and RFC 6587 3.4.1 (TCP).
 *
 * SYSLOG-MSG = "<" PRI ">1 " TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA SP BOM MSG
 */

/** RFC 5424 6.2.1 facility 10: security/authorization messages (authpriv). */
export const FACILITY_AUTHPRIV = 10;
/** RFC 5424 Table 2 severities used here. */
export const SEVERITY = { warning: 4, notice: 5 } as const;

/** RFC 5424 6.4: a MSG in UTF-8 starts with the byte order mark. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export interface SyslogHeader {
  facility: number;
  severity: number;
  /** ms since the epoch; written as RFC 3339 UTC with milliseconds. */
  time: number;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
}

/** A header field: printable US-ASCII without spaces (PRINTUSASCII, %d33-126), at most `max` long; NILVALUE when empty. */
function field(text: string, max: number): string {
  const clean = text.replace(/[^!-~]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

export function syslogMessage(h: SyslogHeader, msg: string): Buffer {
  const pri = h.facility * 8 + h.severity;
  const header = [
    `<${pri}>1`,
    new Date(h.time).toISOString(),
    field(h.hostname, 255),
    field(h.appName, 48),
    field(h.procId, 128),
    field(h.msgId, 32),
    // no STRUCTURED-DATA: the AuditMessage in MSG carries everything
    '-',
  ].join(' ');
  return Buffer.concat([Buffer.from(`${header} `, 'ascii'), BOM, Buffer.from(msg, 'utf8')]);
}

/** RFC 5425 4.3 / RFC 6587 3.4.1: MSG-LEN SP SYSLOG-MSG, MSG-LEN the message's length in octets. */
export function octetCounted(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.byteLength} `, 'ascii'), message]);
}
