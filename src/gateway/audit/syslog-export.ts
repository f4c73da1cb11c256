import { hostname as osHostname } from 'node:os';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../observability/logger.js';
import { backoffDelay, DEFAULT_RETRY_POLICY } from '../forwarding/retry-policy.js';
import { atnaMessage, type AtnaSource } from './atna-message.js';
import type { AuditRecord } from './audit-chain.js';
import type { AuditSyslogConfig } from './audit-config.js';
import type { AuditTrail } from './audit-trail.js';
import { FACILITY_AUTHPRIV, SEVERITY, syslogMessage } from './syslog-format.js';
import { syslogTransport, type SyslogTransport } from './syslog-transport.js';

export interface SyslogExportOptions {
  trail: AuditTrail;
  config: AuditSyslogConfig;
  logger?: Logger;
  registry?: Registry;
  /** The HOSTNAME of the messages and the gateway's NetworkAccessPointID; default: os.hostname(). */
  hostname?: string;
  /** Another transport (tests); default: the configured UDP, TCP or TLS one. */
  transport?: SyslogTransport;
  random?: () => number;
}

/** With nothing to send, look again this often even if no record() woke the export. */
const IDLE_MS = 5_000;

/**
 * The export of the audit trail to an IHE ATNA audit record repository, off the request path: a loop reads the
 * rows after its persisted cursor (export_cursors in the trail's file), sends them in bounded batches, and moves
 * the cursor only once a batch is handed over. While the collector cannot be reached it retries with backoff
 * and the rows wait in the trail, so nothing recorded is lost while it is down or across restarts, and a batch
 * is sent again only when its send failed. UDP has no acknowledgement: there, a message sent while the
 * collector is down is lost (RFC 5426 8.1); use TCP or TLS where that matters.
 */
export class SyslogExport {
  /** The cursor's name: transport, host and port (another collector starts from the first row). */
  readonly target: string;
  private readonly transport: SyslogTransport;
  private readonly source: AtnaSource;
  private readonly hostname: string;
  private loop?: Promise<void>;
  private stopping = false;
  private wake?: () => void;
  private unsubscribe?: () => void;
  private failures = 0;
  private readonly exported?: Counter;
  private readonly sendFailures?: Counter;

  constructor(private readonly o: SyslogExportOptions) {
    const c = o.config;
    this.target = `syslog+${c.transport}://${c.host}:${c.port}`;
    this.transport = o.transport ?? syslogTransport(c);
    this.hostname = o.hostname ?? osHostname();
    this.source = { sourceId: c.sourceId ?? this.hostname, enterpriseSiteId: c.enterpriseSiteId, appName: c.appName, hostname: this.hostname, processId: process.pid };
    if (o.registry) {
      const r = o.registry;
      this.exported = (r.getSingleMetric('anofair_audit_exported_total') as Counter | undefined) ?? new Counter({ name: 'anofair_audit_exported_total', help: 'Audit events handed to the syslog collector', registers: [r] });
      this.sendFailures =
        (r.getSingleMetric('anofair_audit_export_failures_total') as Counter | undefined) ??
        new Counter({ name: 'anofair_audit_export_failures_total', help: 'Failed sends of a batch of audit events to the syslog collector (the batch is sent again)', registers: [r] });
      if (!r.getSingleMetric('anofair_audit_export_pending')) {
        const pending = (): number => this.pending();
        new Gauge({
          name: 'anofair_audit_export_pending',
          help: 'Audit events recorded but not yet handed to the syslog collector',
          registers: [r],
          collect() {
            this.set(pending());
          },
        });
      }
    }
  }

  /** Rows recorded and not yet handed over. */
  pending(): number {
    try {
      return Math.max(0, this.o.trail.head().seq - this.o.trail.cursor(this.target));
    } catch {
      return 0;
    }
  }

  /** The syslog message of one row (RFC 5424, MSGID the event type, MSG the AuditMessage). */
  message(record: AuditRecord): Buffer {
    return syslogMessage(
      {
        facility: FACILITY_AUTHPRIV,
        severity: record.outcome === 'success' ? SEVERITY.notice : SEVERITY.warning,
        time: record.time,
        hostname: this.hostname,
        appName: this.o.config.appName,
        procId: String(process.pid),
        msgId: record.type,
      },
      atnaMessage(record, this.source),
    );
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.unsubscribe = this.o.trail.onRecord(() => this.wake?.());
    this.loop = this.run();
  }

  /** Stop after the batch in flight; what is not sent yet goes after the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    this.unsubscribe?.();
    await this.transport.close();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let sent = false;
      try {
        sent = await this.sendBatch();
        if (this.failures > 0) this.o.logger?.info({ target: this.target, failures: this.failures }, 'audit export: the collector takes events again');
        this.failures = 0;
      } catch (err) {
        this.failures++;
        this.sendFailures?.inc();
        if (this.failures === 1 || this.failures % 20 === 0) {
          const e = err as NodeJS.ErrnoException;
          this.o.logger?.warn({ target: this.target, failures: this.failures, pending: this.pending(), err: { code: e.code, message: e.message } }, 'audit export: the collector cannot be reached; the events wait in the trail');
        }
        const c = this.o.config;
        await this.sleep(backoffDelay({ ...DEFAULT_RETRY_POLICY, baseMs: c.retryBaseMs, capMs: c.retryCapMs, jitter: 'equal' }, this.failures, this.o.random), false);
        continue;
      }
      if (!sent) await this.sleep(IDLE_MS, true);
    }
  }

  /** Send the next batch; false when there was none. */
  private async sendBatch(): Promise<boolean> {
    const trail = this.o.trail;
    const batch = trail.after(trail.cursor(this.target), this.o.config.batch);
    if (batch.length === 0) return false;
    await this.transport.send(batch.map((r) => this.message(r)));
    trail.setCursor(this.target, batch[batch.length - 1]!.seq);
    this.exported?.inc(batch.length);
    return true;
  }

  /** Wait `ms`; stop() always ends the wait, a new event only when `onRecord` (not during a backoff). */
  private sleep(ms: number, onRecord: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = onRecord ? done : () => (this.stopping ? done() : undefined);
    });
  }
}
