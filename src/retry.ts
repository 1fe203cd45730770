/**
 * The one way sublease waits and tries again: a growing, optionally jittered pause between
 * attempts, bounded by a deadline and/or a number of attempts. Waiting for etcd to come
 * up (`--wait`), failing over between etcd members, taking a file lock and retrying a
 * lost race all pace themselves through here, so their limits add up predictably.
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface RetryPolicy {
  /** Epoch milliseconds after which no new attempt starts; the last pause is cut to end on it. */
  deadline?: number;
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  /** The pause after the first failure; each later one doubles, up to maxPauseMs. */
  firstPauseMs: number;
  maxPauseMs: number;
  /** Spread each pause over [pause/2, pause], so runs that collided do not collide again in lockstep. */
  jitter?: boolean;
  /** Whether this failure is worth another attempt; others are thrown at once. */
  retriable(error: unknown): boolean;
  /** Called before each pause: the failure, the attempt that failed (from 1) and the milliseconds left (Infinity without a deadline). */
  onRetry?(error: unknown, attempt: number, remainingMs: number): void;
  /** For tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** The pause after the n-th failed attempt (n from 1), before jitter. */
export const pauseAfter = (attempt: number, policy: Pick<RetryPolicy, "firstPauseMs" | "maxPauseMs">): number =>
  Math.min(policy.firstPauseMs * 2 ** (attempt - 1), policy.maxPauseMs);

/** Runs `attempt` until it succeeds, fails with a non-retriable error, or the policy's bounds are reached (then the last error is thrown). */
export async function retry<T>(attempt: (n: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const now = policy.now ?? Date.now;
  const pauseFor = policy.sleep ?? sleep;
  const random = policy.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      const remaining = policy.deadline === undefined ? Infinity : policy.deadline - now();
      const attemptsLeft = policy.maxAttempts === undefined || n < policy.maxAttempts;
      if (!policy.retriable(error) || remaining <= 0 || !attemptsLeft) throw error;
      policy.onRetry?.(error, n, remaining);
      let pause = pauseAfter(n, policy);
      if (policy.jitter) pause = pause / 2 + random() * (pause / 2);
      await pauseFor(Math.min(pause, remaining));
    }
  }
}
