/**
 * One gRPC channel (one TCP + HTTP/2 connection) per etcd member for all of etcd3's
 * service clients. etcd3 builds a separate grpc-js client per service (KV, Lease) and
 * each would otherwise get its own channel; with `grpc.use_local_subchannel_pool` (kept,
 * see etcd-v3-client.ts) that is one connection per service, so one acquire dialled twice.
 *
 * Passed to etcd3 as grpc-js's `channelFactoryOverride` channel option. Each client gets
 * a view of its member's shared channel; etcd3 closes clients only all together
 * (Host.resetAllServices after a recoverable error, and Host.close), so the first close of
 * a view retires the shared channel, clients made after that get a fresh channel (a new
 * dial), and the retired one closes when its last view does.
 */
import type { ChannelInterface as Channel, ChannelCredentials, ChannelOptions } from "@grpc/grpc-js";

type ChannelClass = new (target: string, credentials: ChannelCredentials, options: ChannelOptions) => Channel;

interface Shared {
  channel: Channel;
  views: number;
  retired: boolean;
}

export function sharedChannelFactory(ChannelImplementation: ChannelClass) {
  const current = new Map<string, Shared>();
  return (address: string, credentials: ChannelCredentials, options: ChannelOptions): Channel => {
    let shared = current.get(address);
    if (!shared) {
      shared = { channel: new ChannelImplementation(address, credentials, options), views: 0, retired: false };
      current.set(address, shared);
    }
    const entry = shared;
    entry.views++;
    let closed = false;
    const { channel } = entry;
    return {
      close() {
        if (closed) return;
        closed = true;
        if (!entry.retired) {
          entry.retired = true;
          if (current.get(address) === entry) current.delete(address);
        }
        if (--entry.views === 0) channel.close();
      },
      getTarget: () => channel.getTarget(),
      getConnectivityState: (tryToConnect) => channel.getConnectivityState(tryToConnect),
      watchConnectivityState: (state, deadline, callback) => channel.watchConnectivityState(state, deadline, callback),
      getChannelzRef: () => channel.getChannelzRef(),
      createCall: (method, deadline, host, parentCall, propagateFlags) => channel.createCall(method, deadline, host, parentCall, propagateFlags),
    };
  };
}
