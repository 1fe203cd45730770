/**
 * A Bun build plugin that makes etcd3 read no .proto file at run time: its
 * `loadSync(`${__dirname}/../proto/rpc.proto`)` would point at the build machine's
 * node_modules. The binary instead embeds only the RPCs sublease calls, with the package
 * definition and protobufjs's encoders/decoders generated at build time, and the build
 * fails when the embedded definitions would behave differently from the full rpc.proto.
 * Embedding is what correctness needs; pruning and generating the code at build time are
 * what make an etcd v3 acquire about twice as fast (BENCHMARKS.md).
 *
 * Paths resolve from this file, so the build works from any working directory.
 */
import type { BunPlugin } from "bun";
import type * as Protobuf from "protobufjs";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { checkEtcd3Calls, ETCD3_METHODS, REGISTRY_DIR, registrySources, rpcMethodsOf } from "./etcd3-calls.ts";

const PLUGIN_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = join(dirname(PLUGIN_FILE), "../..");
/** This file, as error messages name it. */
const PLUGIN = relative(REPO_ROOT, PLUGIN_FILE);

// The proto-loader etcd3 itself resolves, so the descriptor is made by the same code
// (and the same protobufjs) that reads it at run time.
const etcd3Require = createRequire(createRequire(import.meta.url).resolve("etcd3"));
const protoLoader = etcd3Require("@grpc/proto-loader") as typeof import("@grpc/proto-loader");
const protoLoaderUtil = etcd3Require("@grpc/proto-loader/build/src/util") as {
  loadProtosWithOptionsSync(file: string, options: object): Protobuf.Root;
};
const protobuf = createRequire(etcd3Require.resolve("@grpc/proto-loader"))("protobufjs") as typeof Protobuf;
if (etcd3Require.resolve("protobufjs/minimal") !== createRequire(etcd3Require.resolve("@grpc/proto-loader")).resolve("protobufjs/minimal")) {
  throw new Error(`${PLUGIN}: etcd3 and @grpc/proto-loader resolve different copies of protobufjs; the embedded code would not match the runtime`);
}

// backends/registry/etcd-v3-channels.ts builds etcd3's gRPC channels itself (one per host,
// shared by its service clients) with the grpc-js it imports; grpc-js only accepts
// credentials made by its own copy, so that must be the copy etcd3 uses.
const ownGrpc = createRequire(join(REPO_ROOT, REGISTRY_DIR, "etcd-v3-channels.ts")).resolve("@grpc/grpc-js");
if (ownGrpc !== etcd3Require.resolve("@grpc/grpc-js")) {
  throw new Error(`${PLUGIN}: ${REGISTRY_DIR} resolves @grpc/grpc-js to ${ownGrpc}, etcd3 to ${etcd3Require.resolve("@grpc/grpc-js")}: the shared channels need etcd3's copy`);
}

// etcd3's own loadSync call, as shipped in lib/connection-pool.js (etcd3 1.1.x), and its import.
const LOAD_SYNC_CALL = /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`, (\{[^{}]*\})\)/;
const PROTO_LOADER_IMPORT = /const proto_loader_1 = require\("@grpc\/proto-loader"\);/;

/**
 * The options object literal of etcd3's loadSync(rpc.proto, options) call in
 * connection-pool.js (PATH, for the message). Throws when the call or its import is not
 * there as expected: an etcd3 upgrade that moves it must fail the build, not ship a binary
 * that reads rpc.proto from the build machine's path.
 */
export function findLoadSyncOptions(source: string, path: string): string {
  const match = LOAD_SYNC_CALL.exec(source);
  if (!match || !PROTO_LOADER_IMPORT.test(source)) {
    throw new Error(`${path}: etcd3's loadSync(rpc.proto) call was not found; update LOAD_SYNC_CALL and PROTO_LOADER_IMPORT in ${PLUGIN} for this etcd3 version`);
  }
  return match[1]!;
}

/** The rpc.proto of the etcd3 that sublease resolves. */
export const ETCD3_PROTO_FILE = join(dirname(etcd3Require.resolve("etcd3")), "../proto/rpc.proto");

/** @grpc/proto-loader's package definition of PROTO_FILE, as etcd3 would load it with OPTIONS. */
export function loadEtcd3Definition(protoFile = ETCD3_PROTO_FILE, options: object = {}): Record<string, Record<string, MethodDefinition>> {
  return protoLoader.loadSync(protoFile, options) as unknown as Record<string, Record<string, MethodDefinition>>;
}

interface PrunedProtos {
  /** protobufjs JSON of the used services, methods and every message they reach. */
  json: object;
  /** [service full name, RPC name, etcd3 method name] */
  methods: [string, string, string][];
}

/** Cuts rpc.proto down to ETCD3_METHODS and the messages and enums they reach. */
function pruneProtos(full: Protobuf.Root, fullDefinition: Record<string, Record<string, { originalName?: string }>>): PrunedProtos {
  full.resolveAll();
  const methods: [string, string, string][] = [];
  const keep = new Set<string>();
  const visit = (object: Protobuf.ReflectionObject): void => {
    if (keep.has(object.fullName)) return;
    keep.add(object.fullName);
    if (object.parent instanceof protobuf.Type) visit(object.parent);
    if (object instanceof protobuf.Type) {
      for (const field of object.fieldsArray) if (field.resolve().resolvedType) visit(field.resolvedType!);
    }
  };
  const keptMethods = new Map<string, Set<string>>();
  for (const [serviceName, wanted] of Object.entries(ETCD3_METHODS)) {
    const service = full.lookupService(`etcdserverpb.${serviceName}`);
    const names = new Set<string>();
    for (const clientName of wanted) {
      const rpc = Object.keys(service.methods).find((name) => fullDefinition[`etcdserverpb.${serviceName}`]?.[name]?.originalName === clientName);
      if (!rpc) throw new Error(`etcdserverpb.${serviceName} has no RPC that etcd3 calls ${clientName}`);
      const method = service.methods[rpc]!;
      method.resolve();
      visit(method.resolvedRequestType!);
      visit(method.resolvedResponseType!);
      names.add(rpc);
      methods.push([`etcdserverpb.${serviceName}`, rpc, clientName]);
    }
    keptMethods.set(service.fullName, names);
  }
  type Json = { nested?: Record<string, Json>; methods?: Record<string, unknown>; fields?: unknown; values?: unknown };
  const filter = (nested: Record<string, Json>, prefix: string): Record<string, Json> | undefined => {
    const out: Record<string, Json> = {};
    for (const [name, child] of Object.entries(nested)) {
      const fullName = `${prefix}.${name}`;
      const methodNames = keptMethods.get(fullName);
      const innerKept = child.nested && filter(child.nested, fullName);
      if (methodNames) {
        out[name] = { ...child, methods: Object.fromEntries(Object.entries(child.methods!).filter(([rpc]) => methodNames.has(rpc))) };
      } else if (keep.has(fullName)) {
        out[name] = { ...child, nested: innerKept };
      } else if (innerKept && child.fields === undefined && child.values === undefined && child.methods === undefined) {
        out[name] = { ...child, nested: innerKept };
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  };
  const json = full.toJSON() as Json;
  return { json: { ...json, nested: filter(json.nested ?? {}, "") }, methods };
}

/** Every message type and enum below `namespace`, depth first. */
function typesOf(namespace: Protobuf.Namespace): (Protobuf.Type | Protobuf.Enum)[] {
  const found: (Protobuf.Type | Protobuf.Enum)[] = [];
  for (const child of namespace.nestedArray) {
    if (child instanceof protobuf.Type || child instanceof protobuf.Enum) found.push(child);
    if (child instanceof protobuf.Namespace) found.push(...typesOf(child));
  }
  return found;
}

/** A type's own JSON without its nested types (which are compared one by one). */
const ownJson = (object: Protobuf.Type | Protobuf.Enum) => JSON.stringify({ ...object.toJSON(), nested: undefined });

/**
 * The functions protobufjs would generate with `new Function` the first time a type is
 * used (its constructor, encode, decode, verify, fromObject, toObject), as source text:
 * compiled into the binary instead, they cost no code generation and no parsing at run
 * time. Each becomes a factory taking the scope protobufjs passes (Writer / Reader,
 * types, util). toObject's conversion of 64-bit integers to decimal strings (etcd3's
 * `longs: String`; four per key in a listing) goes through `longToString` (see below)
 * instead of long.js's digit-by-digit division.
 */
function generatedSources(type: Protobuf.Type): string[] {
  const p = protobuf as unknown as {
    encoder(t: Protobuf.Type): object; decoder(t: Protobuf.Type): object; verifier(t: Protobuf.Type): object;
    converter: { fromObject(t: Protobuf.Type): object; toObject(t: Protobuf.Type): object };
  };
  const ctor = (protobuf.Type as unknown as { generateConstructor(t: Protobuf.Type): object }).generateConstructor(type);
  const toObject = String(p.converter.toObject(type));
  const longCall = /util\.Long\.prototype\.toString\.call\(/g;
  // A default 64-bit value needs no Long object when it only becomes a string.
  const defaultLong = /var n=new util\.Long\((-?\d+),(-?\d+),(true|false)\)\n(\s*)d(\S+?)=o\.longs===String\?n\.toString\(\):/g;
  const Long = createRequire(etcd3Require.resolve("@grpc/proto-loader"))("long") as { fromBits(low: number, high: number, unsigned: boolean): object };
  const withDefaults = toObject.replace(defaultLong, (_, low: string, high: string, unsigned: string, indent: string, prop: string) =>
    `var n=o.longs===String?null:new util.Long(${low},${high},${unsigned})\n${indent}d${prop}=o.longs===String?${JSON.stringify(String(Long.fromBits(Number(low), Number(high), unsigned === "true")))}:`);
  // A bytes field's default is a new empty Buffer, made for every message even when the
  // field is present and overwrites it: two per key in a listing. Made only when absent.
  const bytesDefault = /if\(o\.bytes!==Array\)d\.(\w+)=util\.newBuffer\(d\.\1\)/g;
  const lazyDefaults = withDefaults.replace(bytesDefault, (_, field: string) =>
    `if(o.bytes!==Array)d.${field}=m.${field}!=null&&Object.hasOwnProperty.call(m,${JSON.stringify(field)})?null:util.newBuffer(d.${field})`);
  return [
    `(${String(ctor)})`,
    `(function (Writer, types, util) { return ${String(p.encoder(type))}; })`,
    `(function (Reader, types, util) { return ${String(p.decoder(type))}; })`,
    `(function (types, util) { return ${String(p.verifier(type))}; })`,
    `(function (types, util) { return ${String(p.converter.fromObject(type))}; })`,
    `(function (types, util, longToString) { return ${lazyDefaults.replace(longCall, "longToString(")}; })`,
  ];
}

/**
 * The JavaScript that replaces etcd3's `loadSync(rpc.proto, options)`: the package
 * definition gRPC needs (each method's path, streaming flags and (de)serializers, made
 * exactly as @grpc/proto-loader makes them), wired straight to the precompiled protobufjs
 * functions of the pruned types. Neither @grpc/proto-loader nor protobufjs's reflection
 * (a Root built from a descriptor) is loaded at run time.
 */
function packageDefinitionSource(pruned: PrunedProtos, root: Protobuf.Root, loadOptionsSource: string): string {
  if (Object.keys(pruned.json).join() !== "nested") throw new Error("rpc.proto's descriptor has root options, which the embedded code does not set");
  const types = typesOf(root).filter((t): t is Protobuf.Type => t instanceof protobuf.Type);
  for (const type of types) {
    if ((protobuf.wrappers as Record<string, unknown>)[type.fullName]) throw new Error(`${type.fullName} has a protobufjs wrapper, which the embedded code does not reproduce`);
  }
  const services: Record<string, Record<string, object>> = {};
  for (const [service, rpc, clientName] of pruned.methods) {
    const method = root.lookupService(service).methods[rpc]!;
    (services[service] ??= {})[rpc] = {
      path: `/${service}/${rpc}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestType: method.resolvedRequestType!.fullName,
      responseType: method.resolvedResponseType!.fullName,
      originalName: clientName,
    };
  }
  const enums = typesOf(root).filter((t): t is Protobuf.Enum => t instanceof protobuf.Enum);
  // Each field's resolved type, in the order protobufjs hands `types` to the generated code.
  const fieldTypes = (type: Protobuf.Type) => type.fieldsArray.map((field) => {
    if (field instanceof protobuf.MapField) throw new Error(`${type.fullName}.${field.name} is a map, which the embedded code does not wire`);
    return field.resolve().resolvedType?.fullName ?? null;
  });
  return `(() => {
  // Only protobufjs's runtime: the reflection classes (Root, Type, Field) and resolving a
  // descriptor cost ~4 ms at start-up, and gRPC needs none of them, only the functions.
  const { Reader, Writer, util } = require("protobufjs/minimal");
  const options = ${loadOptionsSource};
  // long.js's toString(10), for the Long objects protobufjs decodes 64-bit fields into.
  // Lease IDs are above 2^53, one per key in a listing: they are split into three
  // 24/24/16-bit parts summed in base 10^7 (google-protobuf's joinUnsignedDecimalString)
  // rather than made into a BigInt, which costs several times as much.
  const unsignedToString = (low, high) => {
    if (high <= 0x1fffff) return String(high * 4294967296 + low);
    const lowPart = low & 0xffffff;
    const midPart = ((low >>> 24) | (high << 8)) & 0xffffff;
    const highPart = (high >>> 16) & 0xffff;
    let a = lowPart + midPart * 6777216 + highPart * 6710656;
    let b = midPart + highPart * 8147497;
    let c = highPart * 2;
    if (a >= 10000000) { b += Math.floor(a / 10000000); a %= 10000000; }
    if (b >= 10000000) { c += Math.floor(b / 10000000); b %= 10000000; }
    const seven = (digits) => "0000000".slice(String(digits).length) + digits;
    return c > 0 ? String(c) + seven(b) + seven(a) : String(b) + seven(a);
  };
  const longToString = (long) => {
    const low = long.low >>> 0;
    const high = long.high >>> 0;
    if (long.unsigned || high < 0x80000000) return unsignedToString(low, high);
    // Negative: two's complement of the 64 bits, then the sign.
    const negatedLow = (~low + 1) >>> 0;
    return "-" + unsignedToString(negatedLow, (~high + (negatedLow === 0 ? 1 : 0)) >>> 0);
  };
  // What the generated functions read from \`types\` and \`this\`: an enum's values (by name,
  // inheriting by id, as protobufjs's Enum has them) and a message's constructor and functions.
  const byName = new Map();
  for (const [name, valuesById] of ${JSON.stringify(enums.map((e) => [e.fullName, e.valuesById]))}) {
    byName.set(name, { values: Object.assign(Object.create(valuesById), Object.fromEntries(Object.entries(valuesById).map(([id, value]) => [value, Number(id)]))), valuesById });
  }
  const generated = [${types.map((type) => { const [ctor, encode, decode, , fromObject, toObject] = generatedSources(type); return `[${JSON.stringify(type.fullName)}, ${JSON.stringify(fieldTypes(type))}, ${ctor}, ${encode}, ${decode}, ${fromObject}, ${toObject}]`; }).join(",\n")}];
  for (const [name, , ctor] of generated) byName.set(name, { name: name.slice(name.lastIndexOf(".") + 1), ctor });
  for (const [name, fields, , encode, decode, fromObject, toObject] of generated) {
    const type = byName.get(name);
    const types = fields.map((field) => (field === null ? null : byName.get(field)));
    type.encode = encode(Writer, types, util);
    type.decode = decode(Reader, types, util);
    type.fromObject = fromObject(types, util);
    type.toObject = toObject(types, util, longToString);
  }
  // @grpc/proto-loader's createSerializer and createDeserializer.
  const serializer = (cls) => function serialize(arg) {
    if (Array.isArray(arg)) throw new Error(\`Failed to serialize message: expected object with \${cls.name} structure, got array instead\`);
    return cls.encode(cls.fromObject(arg)).finish();
  };
  const deserializer = (cls) => function deserialize(argBuf) {
    return cls.toObject(cls.decode(argBuf), options);
  };
  const definition = {};
  for (const [service, methods] of Object.entries(${JSON.stringify(services)})) {
    definition[service] = {};
    for (const [rpc, { requestType, responseType, ...method }] of Object.entries(methods)) {
      const request = byName.get(requestType);
      const response = byName.get(responseType);
      definition[service][rpc] = {
        ...method,
        requestSerialize: serializer(request),
        requestDeserialize: deserializer(request),
        responseSerialize: serializer(response),
        responseDeserialize: deserializer(response),
      };
    }
  }
  return definition;
})()`;
}

type MethodDefinition = {
  path: string; requestStream: boolean; responseStream: boolean; originalName?: string;
  requestSerialize(value: object): Buffer; requestDeserialize(bytes: Buffer): object;
  responseSerialize(value: object): Buffer; responseDeserialize(bytes: Buffer): object;
};

/**
 * Refuses to ship a package definition that gRPC would see differently from the one
 * @grpc/proto-loader makes out of the .proto files: the same paths and streaming flags,
 * every kept type declared exactly as in the .proto, the same generated code, and the
 * same bytes and objects for sample messages in both directions.
 */
function checkEmbedded(source: string, pruned: PrunedProtos, full: Protobuf.Root, fromFiles: Record<string, Record<string, MethodDefinition>>): void {
  const root = protobuf.Root.fromJSON(pruned.json);
  root.resolveAll();
  for (const object of typesOf(root)) {
    const original = full.lookup(object.fullName) as Protobuf.Type | Protobuf.Enum | null;
    if (!original || ownJson(original) !== ownJson(object)) throw new Error(`the pruned ${object.fullName} differs from rpc.proto's`);
    if (object instanceof protobuf.Type && generatedSources(object).join() !== generatedSources(original as Protobuf.Type).join()) {
      throw new Error(`protobufjs generates different code for the pruned ${object.fullName}`);
    }
  }
  const embedded = new Function("require", "String", `return ${source};`)(etcd3Require, String) as Record<string, Record<string, MethodDefinition>>;
  const lease = "7587880012345678901";
  const samples: Record<string, { request?: object; response?: object }> = {
    Range: {
      request: { key: Buffer.from("/a/subnets/"), range_end: Buffer.from("/a/subnets0"), limit: 3 },
      response: {
        header: { cluster_id: "14841639068965178418", member_id: "10276657743932975437", revision: "9007199254740993", raft_term: "2" },
        kvs: [
          { key: Buffer.from("/a/subnets/10.5.1.0-24"), value: Buffer.from("{}"), lease, mod_revision: "12", create_revision: "11", version: "1" },
          { key: Buffer.from("/a/config"), value: Buffer.from("x"), lease: "0", mod_revision: "-9223372036854775808", create_revision: "9223372036854775807", version: "-1" },
        ],
        count: "2", more: true,
      },
    },
    Txn: {
      request: {
        compare: [{ key: Buffer.from("k"), target: "Version", result: "Equal", version: 0 }, { key: Buffer.from("k"), target: "Mod", result: "Equal", mod_revision: "42" }],
        success: [{ request_put: { key: Buffer.from("k"), value: Buffer.from("v"), lease } }, { request_delete_range: { key: Buffer.from("k") } }],
        failure: [{ request_range: { key: Buffer.from("k") } }],
      },
      response: { header: { revision: "5" }, succeeded: false, responses: [{ response_range: { kvs: [{ key: Buffer.from("k"), lease, mod_revision: "4" }] } }, { response_put: {} }] },
    },
    LeaseGrant: { request: { TTL: 86400, ID: 0 }, response: { ID: lease, TTL: "86400", error: "" } },
    LeaseTimeToLive: { request: { ID: lease, keys: true }, response: { ID: lease, TTL: "-1", grantedTTL: "86400", keys: [Buffer.from("k")] } },
    LeaseLeases: { request: {}, response: { header: { revision: "7" }, leases: [{ ID: lease }, { ID: "1" }] } },
    LeaseKeepAlive: { request: { ID: lease }, response: { ID: lease, TTL: "30" } },
    Authenticate: { request: { name: "user", password: "secret" }, response: { token: "abc.def" } },
  };
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const [service, rpc] of pruned.methods) {
    const want = fromFiles[service]?.[rpc];
    const got = embedded[service]?.[rpc];
    if (!want || !got) throw new Error(`${service}/${rpc} is missing`);
    for (const key of ["path", "requestStream", "responseStream", "originalName"] as const) {
      if (want[key] !== got[key]) throw new Error(`${service}/${rpc}: ${key} differs`);
    }
    for (const [kind, value] of [["request", samples[rpc]?.request ?? {}], ["response", samples[rpc]?.response ?? {}]] as const) {
      const serialize = kind === "request" ? "requestSerialize" : "responseSerialize";
      const deserialize = kind === "request" ? "requestDeserialize" : "responseDeserialize";
      const bytes = want[serialize](value);
      if (!Buffer.from(got[serialize](value)).equals(Buffer.from(bytes))) throw new Error(`${service}/${rpc}: the ${kind} encodes differently`);
      for (const input of [bytes, Buffer.alloc(0)]) {
        if (!same(got[deserialize](input), want[deserialize](input))) throw new Error(`${service}/${rpc}: the ${kind} decodes differently`);
      }
    }
  }
  // The decimal conversion of 64-bit fields, over their whole signed range and its edges.
  const [leaseService] = pruned.methods.find(([, rpc]) => rpc === "LeaseGrant")!;
  const want = fromFiles[leaseService]!.LeaseGrant!;
  const got = embedded[leaseService]!.LeaseGrant!;
  const edges = [0n, 1n, -1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 10n ** 16n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 53n) - 1n, 4294967296n * 0x1fffffn];
  for (const id of [...edges, ...Array.from(crypto.getRandomValues(new BigUint64Array(4000)), (bits) => BigInt.asIntN(64, bits))]) {
    const bytes = want.responseSerialize({ ID: String(id), TTL: String(-id) });
    const decoded = got.responseDeserialize(bytes) as { ID?: string; TTL?: string };
    if (!same(decoded, want.responseDeserialize(bytes)) || decoded.ID !== String(id)) {
      throw new Error(`a 64-bit field decodes differently: ${id} became ${decoded.ID}`);
    }
  }
}

export const embedEtcd3Protos: BunPlugin = {
  name: "embed-etcd3-protos",
  setup(build) {
    build.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async ({ path }) => {
      const source = await Bun.file(path).text();
      const loadOptionsSource = findLoadSyncOptions(source, path);
      const protoFile = join(dirname(path), "../proto/rpc.proto");
      // The object literal etcd3 passes (keepCase, longs: String, enums: String, ...).
      const loadOptions = new Function("String", `return ${loadOptionsSource};`)(String) as object;
      const fromFiles = loadEtcd3Definition(protoFile, loadOptions);
      checkEtcd3Calls(registrySources(), rpcMethodsOf(fromFiles));
      let embedded: string;
      try {
        const full = protoLoaderUtil.loadProtosWithOptionsSync(protoFile, loadOptions);
        const pruned = pruneProtos(full, fromFiles);
        const root = protobuf.Root.fromJSON(pruned.json);
        root.resolveAll();
        embedded = packageDefinitionSource(pruned, root, loadOptionsSource);
        checkEmbedded(embedded, pruned, full, fromFiles);
      } catch (error) {
        throw new Error(`${PLUGIN}: embedding ${protoFile} failed: ${(error as Error).message}`);
      }
      const contents = source.replace(PROTO_LOADER_IMPORT, "").replace(LOAD_SYNC_CALL, () => embedded);
      return { contents, loader: "js" };
    });
  },
};
