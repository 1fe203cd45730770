/**
 * The etcd v3 registry's key layout and the small encodings every part of it shares:
 * flannel's keys, the holder index's keys beside them, key ranges, and Lease.version.
 */
import { Buffer } from "node:buffer";
import { SubleaseError } from "../../src/errors.ts";
import { formatSubnetKey, type Lease, type SubnetKey } from "../../src/lease.ts";

/** The key has no etcd lease: a reservation. */
export const NO_LEASE = "0";

/** The smallest key after every key that starts with `prefix` (etcd's "range_end" for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Every key that starts with `prefix`, as a range. */
export function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  const key = Buffer.from(prefix);
  return { key, range_end: prefixEnd(key) };
}

/**
 * The range [key, key + "'"): the key itself and its dual-stack forms "key&...", but not
 * longer lengths ("10.0.0.0-1" must not take in "10.0.0.0-16"): "'" follows "&" and
 * precedes every digit.
 */
export function keyAndDualStack(key: Buffer): { key: Buffer; range_end: Buffer } {
  return { key, range_end: Buffer.concat([key, Buffer.from("'")]) };
}

/**
 * Lease.version for v3: the key's mod_revision (the compare-and-swap token) and the id of
 * the etcd lease it is attached to (so update/delete/expiry need not read the key again).
 */
export function versionOf(modRevision: string, leaseId: string): string {
  return `${modRevision}/${leaseId}`;
}

export function parseVersion(version: string): { modRevision: string; leaseId: string } {
  const match = /^(\d+)\/(\d+)$/.exec(version);
  if (!match) throw new SubleaseError("failure", `lease version "${version}" was not made by the etcd v3 registry`);
  return { modRevision: match[1]!, leaseId: match[2]! };
}

/** Where everything lives under one --etcd-prefix. */
export class V3Keys {
  readonly config: Buffer;
  /** flannel's leases: `<prefix>/subnets/<subnet key>`. */
  readonly subnets: string;
  /** The holder index: `<prefix>/sublease/holders/<holder>/<subnet key>`, empty values. */
  readonly holders: string;
  /**
   * Written (with an empty value) by every transaction in which sublease changes a lease,
   * so its etcd `version` counts those transactions (see etcd-v3-index-proof.ts).
   */
  readonly writes: Buffer;
  /** The holder index's completeness proof (see etcd-v3-index-proof.ts). */
  readonly proof: Buffer;

  constructor(readonly prefix: string) {
    this.config = Buffer.from(`${prefix}/config`);
    this.subnets = `${prefix}/subnets/`;
    this.holders = `${prefix}/sublease/holders/`;
    this.writes = Buffer.from(`${prefix}/sublease/writes`);
    this.proof = Buffer.from(`${prefix}/sublease/index-proof`);
  }

  subnet(subnet: SubnetKey): Buffer {
    return Buffer.from(this.subnets + formatSubnetKey(subnet));
  }

  lease(lease: Lease): Buffer {
    return Buffer.from(this.subnets + lease.key);
  }

  index(holder: string, leaseKey: string): Buffer {
    return Buffer.from(`${this.holders}${holder}/${leaseKey}`);
  }

  /** An index entry's key split into the holder and the lease key it names; undefined for anything else. */
  parseIndex(key: Buffer): { holder: string; leaseKey: string } | undefined {
    const rest = key.toString("utf8", Buffer.byteLength(this.holders));
    const slash = rest.indexOf("/");
    return slash > 0 ? { holder: rest.slice(0, slash), leaseKey: rest.slice(slash + 1) } : undefined;
  }
}
