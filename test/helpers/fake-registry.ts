/**
 * An in-memory Registry for LeaseManager's own tests: create-if-absent per key and
 * compare-and-swap on a version, as the real registries promise, with hooks that make it
 * lose races or change what it holds between two calls, and a surveying variant that
 * answers from the same map as a registry with a holder index would. It claims nothing
 * about etcd or the file registry.
 */
import { overlapsAny, type RandomBelow } from "../../src/allocator.ts";
import { parseConfigText, type NetworkConfig } from "../../src/config.ts";
import { formatPrefix, parsePrefix, type Prefix } from "../../src/ip.ts";
import { formatSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import { silentLogger } from "../../src/log.ts";
import { LeaseManager, type ManagerOptions } from "../../src/manager.ts";
import type { CreatedLease, LeaseListing, LeaseSurvey, Registry } from "../../src/registry.ts";
import { rejectedError } from "./expect-error.ts";

export const dualHost = (n: number): LeaseAttrs => ({ PublicIP: `192.0.2.${n}`, PublicIPv6: `2001:db8::${n}` });
export const dual = (a: string, b: string): SubnetKey => ({ ipv4: parsePrefix(a, 4)!, ipv6: parsePrefix(b, 6)! });
export const config = (object: unknown): Promise<NetworkConfig> => parseConfigText(JSON.stringify(object));
export const key = (subnet: SubnetKey) => formatSubnetKey(subnet);

type CreateHook = (subnet: SubnetKey, attrs: LeaseAttrs) => Promise<"lose" | void> | "lose" | void;
type StoredHook = (lease: Lease) => Promise<void> | void;
type UpdateHook = (current: Lease) => "lose" | void;

/** Create-if-absent per key, compare-and-swap on a version, like the real registries promise. */
export class FakeRegistry implements Registry {
  readonly description = "fake registry";
  readonly leases = new Map<string, Lease>();
  readonly calls = { list: 0, create: 0, update: 0, delete: 0, expiry: 0 };
  readonly deleted: string[] = [];
  readonly updateTtls: number[] = [];
  beforeCreate?: CreateHook;
  afterCreate?: StoredHook;
  beforeUpdate?: UpdateHook;
  loseDeletes = false;
  /** Answer every lease with each create, read at the create itself, as etcd v3 and the file registry do. */
  seesWithCreate = false;
  /** Leave expiresAt out of listings, as etcd v3 does. */
  hideExpiry = false;
  /** Give no creation stamps, as a registry that does not know them. */
  hideCreated = false;
  private generation = 0;

  /** Creates or rewrites a lease; a rewrite keeps its creation stamp, as etcd's create revision. */
  put(subnet: SubnetKey, attrs: LeaseAttrs, expiresAt: number | null = Date.now() + 86_400_000): Lease {
    const created = this.hideCreated ? undefined : this.leases.get(key(subnet))?.created ?? BigInt(this.generation + 1);
    const lease: Lease = { key: key(subnet), subnet, attrs, expiresAt, version: String(++this.generation), created };
    this.leases.set(key(subnet), lease);
    return lease;
  }

  async getNetworkConfig(): Promise<string | undefined> {
    return undefined;
  }
  async putNetworkConfig(): Promise<void> {}
  async listLeases(): Promise<LeaseListing> {
    this.calls.list++;
    const leases = [...this.leases.values()];
    return { leases: this.hideExpiry ? leases.map(({ expiresAt: _, ...rest }) => rest) : leases };
  }
  async createLease(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number): Promise<CreatedLease | undefined> {
    this.calls.create++;
    if ((await this.beforeCreate?.(subnet, attrs)) === "lose") return undefined;
    if (this.leases.has(key(subnet))) return undefined;
    const lease = this.put(subnet, attrs, ttlSeconds === 0 ? null : Date.now() + ttlSeconds * 1000);
    // What a registry reading with its create sees: the leases as of the create, before what happens after it.
    const seen = this.seesWithCreate ? [...this.leases.values()] : undefined;
    await this.afterCreate?.(lease);
    return { lease, seen };
  }
  async updateLease(current: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    this.calls.update++;
    this.updateTtls.push(ttlSeconds);
    if (this.beforeUpdate?.(current) === "lose") return undefined;
    const stored = this.leases.get(key(current.subnet));
    if (!stored || stored.version !== current.version) return undefined;
    return this.put(current.subnet, attrs, ttlSeconds === 0 ? null : Date.now() + ttlSeconds * 1000);
  }
  async leaseExpiry(lease: Lease): Promise<number | null | undefined> {
    this.calls.expiry++;
    return this.leases.get(key(lease.subnet))?.expiresAt;
  }
  async deleteLease(current: Lease): Promise<boolean> {
    this.calls.delete++;
    const stored = this.leases.get(key(current.subnet));
    if (this.loseDeletes || !stored || stored.version !== current.version) return false;
    this.leases.delete(key(current.subnet));
    this.deleted.push(key(current.subnet));
    return true;
  }
  async close(): Promise<void> {}
}

/** Answers from a list, then `fallback`; records every bound asked for. */
export function scripted(answers: bigint[], fallback = 0n): RandomBelow {
  const queue = [...answers];
  return (bound) => {
    const answer = queue.length ? queue.shift()! : fallback;
    if (answer >= bound) throw new Error(`scripted answer ${answer} is not below ${bound}`);
    return answer;
  };
}

export function managerFor(registry: Registry, options: ManagerOptions = {}) {
  const sleeps: number[] = [];
  const manager = new LeaseManager(registry, silentLogger, {
    randomBelow: scripted([]), ...options, sleep: async (ms) => void sleeps.push(ms),
  });
  return { manager, sleeps };
}

export const rejection = rejectedError;

export const overlaps = (a: SubnetKey, b: SubnetKey) =>
  (!!a.ipv4 && overlapsAny(a.ipv4, [b.ipv4])) || (!!a.ipv6 && overlapsAny(a.ipv6, [b.ipv6]));

/** The fake, plus a survey answered from the same map, as a registry with a holder index would. */
export class SurveyingRegistry extends FakeRegistry {
  readonly areas: string[] = [];
  /** undefined: the index cannot be vouched for, so the manager must list. */
  vouches = true;
  async survey(holder: string, area?: Prefix): Promise<LeaseSurvey | undefined> {
    this.areas.push(area ? formatPrefix(area) : "none");
    if (!this.vouches) return undefined;
    const all = [...this.leases.values()];
    return {
      held: all.filter((lease) => lease.attrs.PublicIP === holder),
      near: area ? all.filter((lease) => lease.subnet.ipv4 && overlapsAny(lease.subnet.ipv4, [area])) : [],
    };
  }
}
