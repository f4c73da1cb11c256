import dicomweb from 'dicomweb-client';
import { Agent, type Dispatcher } from 'undici';
import { AnofairError } from '../../errors/anofair-error.js';
import { clientTlsOptions } from '../tls/tls-client-options.js';
import type { ClientTlsConfig } from '../tls/tls-config.js';
import { NodeXhr } from './node-xhr.js';

/** A DICOMweb server the export jobs talk to: the clinical PACS (search, retrieve) or a destination (search). */
export interface DicomwebServer {
  url: string;
  headers: Record<string, string>;
  basicAuth?: { username: string; password: string };
  tls?: ClientTlsConfig;
}

export interface InstanceHit {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
}

type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

function firstValue(dataset: DicomJson, tag: string): string | undefined {
  const v = dataset[tag]?.Value?.[0];
  return typeof v === 'string' ? v : undefined;
}

/**
 * QIDO-RS and WADO-RS through dicomweb-client, on a connection pool of its own (`connections`), so that an
 * export never takes the clinical proxy's connections. Nothing it logs or throws quotes a UID or a query value:
 * errors name the operation and the HTTP status only. dicomweb-client's own console output is off.
 */
export class DicomwebSource {
  private readonly dispatcher: Agent;
  private readonly client: InstanceType<typeof dicomweb.api.DICOMwebClient>;

  constructor(
    readonly name: string,
    server: DicomwebServer,
    private readonly o: { connections: number; maxInstanceBytes: number; maxSearchBytes?: number; timeoutMs: number; setting: string },
  ) {
    this.dispatcher = new Agent({ connections: o.connections, connect: { timeout: 10_000, ...clientTlsOptions(`${o.setting}.tls`, server.tls) }, keepAliveTimeout: 30_000 });
    const headers: Record<string, string> = { ...server.headers };
    if (server.basicAuth) headers.Authorization = `Basic ${Buffer.from(`${server.basicAuth.username}:${server.basicAuth.password}`).toString('base64')}`;
    this.client = new dicomweb.api.DICOMwebClient({ url: server.url.replace(/\/+$/, ''), headers, verbose: false, singlepart: false });
  }

  private xhr(maxBytes: number, signal?: AbortSignal): NodeXhr {
    return new NodeXhr(this.dispatcher as Dispatcher, { maxBytes, signal, headersTimeoutMs: this.o.timeoutMs, bodyTimeoutMs: this.o.timeoutMs });
  }

  private async call<T>(what: string, instance: NodeXhr, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const status = (err as { status?: number }).status;
      const why = status ? `HTTP ${status}` : (instance.failure ?? (err as Error).message);
      throw new AnofairError(status ? 'UPSTREAM_ERROR' : 'UPSTREAM_UNREACHABLE', `${this.name}: ${what} failed (${why})`, { server: this.name, status: status ?? 0 });
    }
  }

  /**
   * One page of studies matching `query` (QIDO-RS matching keys), with the modalities each holds (empty when the
   * server does not say). `raw` is the page's size before any filtering here, for the caller's paging.
   */
  async searchStudies(query: Record<string, string>, page: { limit: number; offset: number }, signal?: AbortSignal): Promise<Array<{ studyInstanceUID: string; modalities: string[] }>> {
    const instance = this.xhr(this.o.maxSearchBytes ?? 64 * 1024 * 1024, signal);
    const found = await this.call('the study search', instance, () =>
      Promise.resolve(
        this.client.searchForStudies({ queryParams: { ...query, limit: String(page.limit), offset: String(page.offset), includefield: '0020000D,00080061' }, request: { instance } } as never) as unknown as Promise<DicomJson[]>,
      ),
    );
    return (found ?? []).flatMap((s) => {
      const uid = firstValue(s, '0020000D');
      const modalities = (s['00080061']?.Value ?? []).filter((m): m is string => typeof m === 'string');
      return uid ? [{ studyInstanceUID: uid, modalities }] : [];
    });
  }

  /** The instances of a study, or those matching `query` (e.g. { SOPInstanceUID }) anywhere. */
  async searchInstances(o: { studyInstanceUID?: string; query?: Record<string, string> }, signal?: AbortSignal): Promise<InstanceHit[]> {
    const instance = this.xhr(this.o.maxSearchBytes ?? 64 * 1024 * 1024, signal);
    const found = await this.call('the instance search', instance, () =>
      Promise.resolve(
        this.client.searchForInstances({ ...(o.studyInstanceUID ? { studyInstanceUID: o.studyInstanceUID } : {}), queryParams: { ...(o.query ?? {}), includefield: '0020000D,0020000E,00080018' }, request: { instance } } as never) as unknown as Promise<DicomJson[]>,
      ),
    );
    return (found ?? []).flatMap((d) => {
      const hit = { studyInstanceUID: firstValue(d, '0020000D') ?? o.studyInstanceUID, seriesInstanceUID: firstValue(d, '0020000E'), sopInstanceUID: firstValue(d, '00080018') };
      return hit.studyInstanceUID && hit.seriesInstanceUID && hit.sopInstanceUID ? [hit as InstanceHit] : [];
    });
  }

  /** The instance as a Part 10 file (WADO-RS, application/dicom, any transfer syntax the server stores). */
  async retrieve(hit: InstanceHit, signal?: AbortSignal): Promise<Uint8Array> {
    const instance = this.xhr(this.o.maxInstanceBytes, signal);
    const body = await this.call('a retrieve', instance, () =>
      // No mediaTypes: dicomweb-client 0.11 cannot match application/dicom with a transfer syntax ("Media type
      // application/ is not supported"); without one it asks for multipart/related; type="application/dicom", and
      // the PACS answers in a transfer syntax it chooses, which the pipeline reads like any STOW.
      this.client.retrieveInstance({ ...hit, request: { instance } } as never),
    );
    if (!(body instanceof ArrayBuffer) || body.byteLength === 0) throw new AnofairError('UPSTREAM_ERROR', `${this.name}: a retrieve returned no instance`, { server: this.name });
    return new Uint8Array(body);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
