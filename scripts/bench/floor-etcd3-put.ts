/**
 * The floor the etcd3 package sets: one put through it, compiled by scripts/build.ts like
 * sublease. `floor-etcd3-put ENDPOINT KEY VALUE`. What it costs beyond `etcdctl put` is
 * loading grpc-js and etcd3 and opening an HTTP/2 connection with Bun's node:http2.
 */
import { Etcd3 } from "etcd3";

const [endpoint, key, value] = process.argv.slice(2);
const client = new Etcd3({ hosts: endpoint! });
try {
  await client.put(key!).value(value!);
} finally {
  client.close();
}
