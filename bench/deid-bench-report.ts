import type { ProfileSummary } from './cpu-profile-summary.js';
import { mib } from './memory-probe.js';
import type { OrthancPhase } from './orthanc-anonymize-run.js';
import type { OursRunResult } from './ours-deid-run.js';

/** The numbers of one benchmark run, as written to bench-out/deid-bench-*.json, and their table. */

export interface BenchRow {
  side: 'AnoFAIR' | 'AnoFAIR engine only' | 'Orthanc';
  files: number;
  /** How many timed passes the row summarises (median throughput, highest peak RSS). */
  passes: number;
  instancesPerSecond: number;
  mbPerSecond: number;
  /** CPU milliseconds per instance: ours the worker process, Orthanc's the Orthanc process. */
  cpuMsPerInstance: number;
  peakRssMiB: number;
}

export interface SanityCheck {
  side: string;
  file: string;
  readBack: boolean;
  dcmdump: boolean;
  patientNameGone: boolean;
  patientIdGone: boolean;
  detail: string;
}

export interface BenchResult {
  command: string;
  date: string;
  /** The code measured: the commit, and source files that differed from it when the run was built. */
  code: { commit: string; uncommittedSrc: string[] };
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  corpus: { files: number; rows: number; cols: number; bitsAllocated: 16; seed: number; totalMB: number; meanFileMB: number; generateSeconds: number };
  passes: number;
  ours: { size: number; runs: OursRunResult[] }[];
  orthanc?: {
    version: string;
    dicomVersion: string;
    pid: number;
    uploads: { size: number; phase: OrthancPhase }[];
    anonymize: { size: number; runs: OrthancPhase[] }[];
  };
  rows: BenchRow[];
  /** ours / Orthanc instances per second, by corpus size. */
  ratios: { size: number; throughput: number; cpu: number }[];
  memoryFlat: { oursGrowthPercent: number; flat: boolean };
  target: { throughputAtLeast: 2; met: boolean };
  sanity: SanityCheck[];
  profiles?: ProfileSummary[];
}

const MB = 1e6;

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function oursRows(size: number, runs: OursRunResult[]): BenchRow[] {
  const engineMs = (r: OursRunResult) => r.stageMs.parse + r.stageMs.deidentify + r.stageMs.serialise;
  const peak = mib(Math.max(...runs.map((r) => Math.max(r.maxRss, r.peakRssSampled))));
  const bytes = runs[0]!.inputBytes;
  const ips = median(runs.map((r) => r.instances / r.wallSeconds));
  const engineIps = median(runs.map((r) => (1000 * r.instances) / engineMs(r)));
  const cpuMs = median(runs.map((r) => (1000 * r.cpuSeconds) / r.instances));
  return [
    { side: 'AnoFAIR', files: size, passes: runs.length, instancesPerSecond: round(ips), mbPerSecond: round((ips * bytes) / size / MB, 1), cpuMsPerInstance: round(cpuMs, 1), peakRssMiB: peak },
    { side: 'AnoFAIR engine only', files: size, passes: runs.length, instancesPerSecond: round(engineIps), mbPerSecond: round((engineIps * bytes) / size / MB, 1), cpuMsPerInstance: round(median(runs.map((r) => engineMs(r) / r.instances)), 1), peakRssMiB: peak },
  ];
}

export function orthancRow(size: number, runs: OrthancPhase[]): BenchRow {
  const ips = median(runs.map((r) => r.instances / r.wallSeconds));
  return {
    side: 'Orthanc',
    files: size,
    passes: runs.length,
    instancesPerSecond: round(ips),
    mbPerSecond: round((ips * runs[0]!.inputBytes) / size / MB, 1),
    cpuMsPerInstance: round(median(runs.map((r) => (1000 * r.orthancCpuSeconds) / r.instances)), 1),
    peakRssMiB: mib(Math.max(...runs.map((r) => r.orthancPeakRss))),
  };
}

function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export function renderTable(result: BenchResult): string {
  const rows = result.rows.map((r) => [
    r.side,
    String(r.files),
    String(r.passes),
    r.instancesPerSecond.toFixed(2),
    r.mbPerSecond.toFixed(1),
    r.cpuMsPerInstance.toFixed(1),
    r.peakRssMiB.toFixed(1),
  ]);
  for (const ratio of result.ratios) {
    rows.push(['**AnoFAIR / Orthanc**', String(ratio.size), '', `**${ratio.throughput.toFixed(2)}x**`, `${ratio.throughput.toFixed(2)}x`, `Orthanc uses ${ratio.cpu.toFixed(2)}x of our CPU`, '']);
  }
  return table(['side', 'files', 'passes', 'instances/s (median)', 'MB/s', 'CPU ms/instance', 'peak RSS MiB (max)'], rows);
}

export function renderStages(result: BenchResult): string {
  const rows = result.ours.map(({ size, runs }) => {
    const sum = (pick: (r: OursRunResult) => number) => runs.reduce((acc, r) => acc + pick(r), 0) / runs.reduce((acc, r) => acc + r.instances, 0);
    const per = (pick: (r: OursRunResult) => number) => sum(pick).toFixed(1);
    return [
      String(size),
      per((r) => r.stageMs.readFile),
      per((r) => r.stageMs.parse),
      per((r) => r.stageMs.deidentify),
      per((r) => r.stageMs.serialise),
      per((r) => r.stageMs.writeFile),
      per((r) => r.wallSeconds * 1000),
    ];
  });
  return table(['files', 'read file', 'readPart10', 'deidentify', 'writePart10', 'write file', 'total (ms/instance, mean of passes)'], rows);
}

export function renderOrthancDetail(result: BenchResult): string {
  if (!result.orthanc) return '';
  const rows = result.orthanc.anonymize.map(({ size, runs }) => {
    const n = runs.reduce((acc, r) => acc + r.instances, 0);
    const per = (pick: (r: OrthancPhase) => number) => ((1000 * runs.reduce((acc, r) => acc + pick(r), 0)) / n).toFixed(1);
    return [String(size), per((r) => r.wallSeconds), per((r) => r.orthancCpuSeconds), per((r) => r.clientCpuSeconds), mib(Math.max(...runs.map((r) => r.orthancRssAfter))).toFixed(1)];
  });
  for (const { size, phase } of result.orthanc.uploads) {
    rows.push([`upload to ${size}`, ((1000 * phase.wallSeconds) / Math.max(1, phase.instances)).toFixed(1), ((1000 * phase.orthancCpuSeconds) / Math.max(1, phase.instances)).toFixed(1), ((1000 * phase.clientCpuSeconds) / Math.max(1, phase.instances)).toFixed(1), mib(phase.orthancRssAfter).toFixed(1)]);
  }
  return table(['Orthanc, files', 'wall ms/instance', 'Orthanc CPU ms/instance', 'client (Node, undici) CPU ms/instance', 'Orthanc RSS after, MiB'], rows);
}

function loadRange(result: BenchResult): string {
  const loads = [
    ...result.ours.flatMap(({ runs }) => runs.flatMap((r) => [r.loadavgBefore[0]!, r.loadavgAfter[0]!])),
    ...(result.orthanc?.anonymize.flatMap(({ runs }) => runs.flatMap((r) => [r.loadavgBefore[0]!, r.loadavgAfter[0]!])) ?? []),
  ];
  return loads.length ? `${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)}` : 'not sampled';
}

export function renderMarkdown(result: BenchResult): string {
  const c = result.corpus;
  const lastOurs = result.ours.at(-1);
  const parts = [
    `- Command: \`${result.command}\``,
    `- Passes: ${result.passes} per side and size, interleaved (AnoFAIR, Orthanc, AnoFAIR, ...), each AnoFAIR pass in a fresh Node process.`,
    `- Code: commit ${result.code.commit.slice(0, 12)}${result.code.uncommittedSrc.length ? ` plus uncommitted changes to ${result.code.uncommittedSrc.join(', ')}` : ''}.`,
    `- Date: ${result.date}. Machine: ${result.machine.cpus} cores (${result.machine.cpuModel}), ${result.machine.memoryGiB} GiB RAM, no GPU, ${result.machine.platform}, Node ${result.machine.node}; Orthanc ${result.orthanc?.version ?? '(not run)'} (Debian).`,
    `- Corpus: ${c.files} CR files, ${c.cols}x${c.rows}, 16 bit, explicit VR LE, ${c.meanFileMB.toFixed(2)} MB each, ${c.totalMB.toFixed(0)} MB in all (seed ${c.seed}). MB = 10^6 bytes of input DICOM.`,
    '',
    renderTable(result),
    '',
    'Where our time goes (ms per instance):',
    '',
    renderStages(result),
    '',
    'Orthanc, per instance (uploads are not part of the comparison):',
    '',
    renderOrthancDetail(result),
    '',
    `Machine load (1-minute load average, sampled before and after each timed pass; other jobs may share these cores): ${loadRange(result)}.`,
    '',
    `AnoFAIR RSS during the first ${lastOurs?.size ?? 0}-file pass (instances done: MiB): ${lastOurs?.runs[0]?.rssTrace.map((t) => `${t.after}: ${mib(t.rss).toFixed(0)}`).join(', ') ?? ''}.`,
    '',
    `Memory: AnoFAIR peak RSS grows ${result.memoryFlat.oursGrowthPercent.toFixed(1)} % from the smallest to the largest corpus (${result.memoryFlat.flat ? 'flat: within 25 %' : 'NOT flat: more than 25 %'}). ` +
      `Target (AnoFAIR at least 2x Orthanc's throughput at every size): ${result.target.met ? 'met' : 'NOT met'}.`,
    '',
    `Sanity: ${result.sanity.map((s) => `${s.side}: ${s.detail}`).join('; ')}.`,
  ];
  if (result.profiles?.length) {
    const p = result.profiles[0]!;
    parts.push('', `CPU profile of one AnoFAIR pass at ${result.ours.at(-1)?.size} files (${p.totalMs} ms sampled), self time:`, '');
    parts.push(table(['source file', 'ms', '%'], p.files.slice(0, 8).map((f) => [f.name, String(f.ms), f.percent.toFixed(1)])));
    parts.push('');
    parts.push(table(['function', 'ms', '%'], p.functions.slice(0, 12).map((f) => [`\`${f.name}\``, String(f.ms), f.percent.toFixed(1)])));
  }
  return parts.join('\n') + '\n';
}
