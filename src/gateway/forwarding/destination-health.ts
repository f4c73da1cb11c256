import type { DestinationState } from '../store/gateway-store.js';
import type { DestinationVerdict } from './judge-answer.js';
import { backoffDelay, type RetryPolicy } from './retry-policy.js';

/**
 * The destination's next state after an attempt. An unavailable, unauthorized or misconfigured destination is
 * paused with exponential backoff (honouring Retry-After up to the cap) and probed again when the pause ends:
 * exporting never stops, and the reason stays visible until it recovers.
 */
export function nextDestinationState(
  name: string,
  previous: DestinationState | undefined,
  verdict: DestinationVerdict,
  delivered: number,
  now: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): DestinationState {
  const since = (health: DestinationState['health']): number => (previous?.health === health ? previous.since : now);
  const lastSuccessAt = delivered > 0 ? now : previous?.lastSuccessAt;
  if (verdict.health === 'ok') {
    return { name, health: 'ok', since: since('ok'), lastSuccessAt, consecutiveFailures: 0 };
  }
  const consecutiveFailures = (previous?.consecutiveFailures ?? 0) + 1;
  const pause =
    verdict.health === 'failing' && !verdict.pause
      ? undefined
      : now + Math.min(policy.capMs, Math.max(backoffDelay(policy, consecutiveFailures, random), verdict.health === 'unreachable' ? (verdict.retryAfterMs ?? 0) : 0));
  return {
    name,
    health: verdict.health,
    since: since(verdict.health),
    lastError: verdict.error,
    lastSuccessAt,
    pausedUntil: pause,
    consecutiveFailures,
  };
}
