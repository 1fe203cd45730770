/**
 * The floor the etcd3 package sets: puts through it, one after another on one connection,
 * compiled by scripts/build.ts like sublease. `floor-etcd3-put ENDPOINT KEY VALUE [COUNT]`
 * (COUNT puts, default 1). One put costs, beyond `etcdctl put`, loading grpc-js and etcd3
 * and opening an HTTP/2 connection with Bun's node:http2; each further put is one more
 * round trip through the same client, what any request an acquire adds costs at least.
 */
import { Etcd3 } from "etcd3";

const [endpoint, key, value, count = "1"] = process.argv.slice(2);
const client = new Etcd3({ hosts: endpoint! });
try {
  for (let i = 0; i < Number(count); i++) await client.put(key!).value(value!);
} finally {
  client.close();
}
