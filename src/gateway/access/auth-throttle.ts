/**
 * Failed authentications counted per client address in a sliding window. Past the limit the address is blocked
 * for a while: its requests are refused (429) without their credentials being looked at, so that guessing
 * tokens costs the attacker the block time per few guesses. The table is bounded: when it is full the entry
 * seen longest ago is dropped, so a flood of addresses cannot grow memory.
 */

export interface ThrottleSettings {
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  /** Most addresses tracked at once. */
  maxTracked: number;
}

interface Entry {
  failures: number[];
  blockedUntil: number;
}

export type ThrottleVerdict = { blocked: false } | { blocked: true; retryAfterS: number };

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly settings: ThrottleSettings) {}

  check(address: string, now = Date.now()): ThrottleVerdict {
    const e = this.entries.get(address);
    if (!e || e.blockedUntil <= now) return { blocked: false };
    return { blocked: true, retryAfterS: Math.max(1, Math.ceil((e.blockedUntil - now) / 1000)) };
  }

  /** Count a failure; true when this failure started a block (the moment worth an audit row of its own). */
  fail(address: string, now = Date.now()): boolean {
    let e = this.entries.get(address);
    if (e) {
      this.entries.delete(address); // re-insert: Map order is the eviction order
    } else {
      e = { failures: [], blockedUntil: 0 };
      if (this.entries.size >= this.settings.maxTracked) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(address, e);
    e.failures = e.failures.filter((t) => t > now - this.settings.windowMs);
    e.failures.push(now);
    if (e.failures.length >= this.settings.maxFailures && e.blockedUntil <= now) {
      e.blockedUntil = now + this.settings.blockMs;
      e.failures = [];
      return true;
    }
    return false;
  }

  get tracked(): number {
    return this.entries.size;
  }
}
