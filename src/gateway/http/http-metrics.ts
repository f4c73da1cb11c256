import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Prometheus metrics of the HTTP side. Labels are fixed words (service, method, status class, reason codes):
 * never a path with UIDs, a query string, or anything taken from an instance.
 */
export class HttpMetrics {
  readonly requests: Counter<'service' | 'method' | 'status'>;
  readonly seconds: Histogram<'service'>;
  readonly upstreamFailures: Counter<'service' | 'code'>;
  readonly tapInstances: Counter<'outcome'>;
  readonly tapFailures: Counter<'reason'>;
  readonly deidInstances: Counter<'outcome'>;
  readonly stowRejected: Counter<'endpoint' | 'code'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'anofair_http_requests_total',
      help: 'HTTP requests answered, by service (qido, wado, stow, deid-stow, api, other), method and status code',
      labelNames: ['service', 'method', 'status'],
      registers,
    });
    this.seconds = new Histogram({
      name: 'anofair_http_request_seconds',
      help: 'Time from request to the end of the response, by service',
      labelNames: ['service'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.upstreamFailures = new Counter({
      name: 'anofair_upstream_failures_total',
      help: 'Requests the clinical PACS could not answer (unreachable, timeout, error), by service',
      labelNames: ['service', 'code'],
      registers,
    });
    this.tapInstances = new Counter({
      name: 'anofair_stow_tap_instances_total',
      help: 'Instances seen by the STOW tap, by outcome (queued, not-routed, not-stored-upstream, incomplete, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.tapFailures = new Counter({
      name: 'anofair_stow_tap_failures_total',
      help: 'Research-path failures of the STOW tap (the clinical STOW still succeeded), by error code',
      labelNames: ['reason'],
      registers,
    });
    this.deidInstances = new Counter({
      name: 'anofair_deid_stow_instances_total',
      help: 'Instances received on POST /deid/dicom-web/studies, by outcome (queued, refused, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.stowRejected = new Counter({
      name: 'anofair_stow_rejected_total',
      help: 'STOW-RS requests refused by the gateway before or while reading them, by endpoint and error code',
      labelNames: ['endpoint', 'code'],
      registers,
    });
  }
}
