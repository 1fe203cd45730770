/**
 * One etcd lease refresh, as a renewal needs it: a single keep-alive on a stream, retried
 * on another member when one is down or between leaders, since etcd3 gives streams no
 * retry or failover of its own.
 */
import type { LeaseClient } from "etcd3";
import { retry } from "../../src/retry.ts";
import { LEADER_WAIT_PAUSES } from "./etcd-connection.ts";
import type { CallBudget } from "./etcd-v3-client.ts";

/** A keep-alive stream that closed before answering (its member went away). */
class KeepAliveEnded extends Error {
  constructor() {
    super("the lease keep-alive stream ended without an answer");
  }
}

/** One keep-alive round trip on a stream to whichever host etcd3 picks. */
async function keepAliveAttempt(leases: LeaseClient, leaseId: string, callOptions: CallBudget): Promise<number> {
  const stream = await leases.leaseKeepAlive(callOptions);
  try {
    const reply = await new Promise<{ TTL: string }>((resolve, reject) => {
      stream.on("data", resolve);
      stream.on("error", reject);
      stream.on("end", () => reject(new KeepAliveEnded()));
      stream.write({ ID: leaseId });
    });
    return Number(reply.TTL);
  } finally {
    // The server answers the half-close by ending the call; the listeners above stay
    // attached so a late error lands on a settled promise instead of going unhandled.
    stream.end();
  }
}

/**
 * Refreshes an etcd lease to its full TTL and returns that TTL (the one it was granted
 * with); 0 or less when the lease no longer exists. Retried within the call's deadline.
 */
export function keepAliveOnce(leases: LeaseClient, leaseId: string, callOptions: CallBudget): Promise<number> {
  return retry(() => keepAliveAttempt(leases, leaseId, callOptions), {
    deadline: callOptions.end,
    ...LEADER_WAIT_PAUSES,
    retriable: (error) => error instanceof KeepAliveEnded || [1, 13, 14].includes((error as { code?: number }).code ?? -1),
  });
}
