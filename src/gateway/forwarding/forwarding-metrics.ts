import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GatewayStore } from '../store/gateway-store.js';

/**
 * Prometheus metrics of the research path. Labels are destination names, states and fixed cause words:
 * never a UID, a name or anything else taken from an instance.
 */
export class ForwardingMetrics {
  readonly accepted: Counter<'mode' | 'outcome'>;
  readonly forwarded: Counter<'destination'>;
  readonly failedAttempts: Counter<'destination' | 'cause'>;
  readonly quarantined: Counter<'destination' | 'cause'>;
  readonly requestSeconds: Histogram<'destination'>;
  readonly pixelInstances: Counter<'outcome'>;
  readonly pixelSeconds: Histogram;

  constructor(registry: Registry, store: () => GatewayStore | undefined) {
    const registers = [registry];
    this.accepted = new Counter({
      name: 'anofair_research_accepted_total',
      help: 'Instances offered to the research pipeline, by ingest mode and outcome (queued, dropped, unmatched)',
      labelNames: ['mode', 'outcome'],
      registers,
    });
    this.forwarded = new Counter({
      name: 'anofair_research_forwarded_total',
      help: 'De-identified instances a destination confirmed',
      labelNames: ['destination'],
      registers,
    });
    this.failedAttempts = new Counter({
      name: 'anofair_research_failed_attempts_total',
      help: 'Instance delivery attempts that did not succeed, by cause (unreachable, unauthorized, failing, retry)',
      labelNames: ['destination', 'cause'],
      registers,
    });
    this.quarantined = new Counter({
      name: 'anofair_research_quarantined_total',
      help: 'Instances quarantined, by cause (deidentification, refused, retry-limit, configuration)',
      labelNames: ['destination', 'cause'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'anofair_research_stow_request_seconds',
      help: 'Duration of STOW-RS requests to destinations',
      labelNames: ['destination'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.pixelInstances = new Counter({
      name: 'anofair_pixel_anonymization_total',
      help: 'Instances a rule sent to CXR-AnoFAIR pixel anonymization, by outcome (cleaned; failed: quarantined by the pixel step; not-reached: withheld or unreadable before it)',
      labelNames: ['outcome'],
      registers,
    });
    this.pixelSeconds = new Histogram({
      name: 'anofair_pixel_anonymization_seconds',
      help: 'Duration of CXR-AnoFAIR on one instance (detection, regeneration, pixels back into DICOM)',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
    new Gauge({
      name: 'anofair_research_queue_items',
      help: 'Queue items by destination and state (pending, in-flight, delivered, quarantined, discarded)',
      labelNames: ['destination', 'state'],
      registers,
      async collect() {
        const s = store();
        if (!s) return;
        this.reset();
        for (const c of await s.queueCounts()) this.set({ destination: c.destination, state: c.state }, c.count);
      },
    });
    new Gauge({
      name: 'anofair_research_destination_up',
      help: '1 when the destination took the last request, 0 when it is unreachable, refuses our credentials or fails',
      labelNames: ['destination'],
      registers,
      async collect() {
        const s = store();
        if (!s) return;
        this.reset();
        for (const d of await s.getDestinationStates()) this.set({ destination: d.name }, d.health === 'ok' ? 1 : 0);
      },
    });
  }
}
