/** A key as etcd's v2 API stores it, read past sublease: what flanneld v0.17 would see. */
import type { EtcdCluster } from "./etcd.ts";

export interface RawNode {
  key: string;
  value?: string;
  ttl?: number;
  expiration?: string;
  modifiedIndex: number;
}

/** The node as etcd's v2 API returns it, or undefined when the key does not exist. */
export async function rawNode(etcd: EtcdCluster, key: string): Promise<RawNode | undefined> {
  const response = await etcd.v2(`/v2/keys${key}`);
  if (response.status === 404) return undefined;
  return ((await response.json()) as { node: RawNode }).node;
}
