import { readFile, readdir, writeFile } from 'node:fs/promises';

/**
 * Memory and CPU readings for benchmarks: our own process through process.memoryUsage / resourceUsage, another
 * process (Orthanc) through /proc (Linux only, which is where the benchmark runs).
 */

const MIB = 1024 * 1024;

export function mib(bytes: number): number {
  return Math.round((bytes / MIB) * 10) / 10;
}

/**
 * Samples process.memoryUsage().rss on a timer (which only fires while the loop awaits I/O) and wherever the
 * caller asks with sample(); resourceUsage().maxRSS catches peaks between samples.
 */
export class RssSampler {
  peakRss = 0;
  private timer?: NodeJS.Timeout;

  start(intervalMs = 20): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): number {
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
    return rss;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }
}

/** Peak resident set size of this process since it started, in bytes (Linux reports kilobytes). */
export function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Fields of /proc/<pid>/status in bytes: VmHWM (peak resident), VmRSS (resident now). */
export async function procMemory(pid: number): Promise<{ vmHWM: number; vmRSS: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1024;
  };
  return { vmHWM: kb('VmHWM'), vmRSS: kb('VmRSS') };
}

/**
 * Reset the peak resident set size of a process (Linux >= 4.0: "5" to /proc/<pid>/clear_refs), so VmHWM
 * measures one phase. Returns false where the kernel refuses; VmHWM then spans the process's life.
 */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export async function procCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the whole line)
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** The pid of the process whose command line starts with exactly these arguments (program first), or undefined. */
export async function findPid(argvPrefix: readonly string[]): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (argvPrefix.every((a, i) => args[i] === a)) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}
