/**
 * Backend types flanneld accepts whose lease data only their own daemon can produce:
 * ipsec (charon's view of the tunnel), extension (the output of user commands), and the
 * cloud route backends (state in the cloud's route tables). A config naming one is valid,
 * so parse-config, config put, config get and leases work with it; publishing a lease
 * (acquire, renew) stops with a clear error instead of writing data flanneld would misread.
 */
import type { BackendPlugin } from "../../src/backend.ts";
import { usageError } from "../../src/errors.ts";

export const FLANNELD_ONLY_TYPES = ["ipsec", "extension", "gce", "aws-vpc", "ali-vpc", "tencent-vpc"] as const;

/** `publishable`: the backend types sublease writes lease data for, offered instead. */
function flanneldOnlyBackend(type: string, publishable: readonly string[]): BackendPlugin {
  const cannotPublish = () => usageError(`backend type ${type} is valid for flanneld but sublease cannot write its lease data: ` +
    `run flanneld on this host, or use a backend sublease can publish (${publishable.join(", ")})`);
  return {
    type,
    // Fields are flanneld's business here: kept as given, so none is reported as unknown.
    parseOptions: (raw) => {
      const rest = Object.fromEntries(Object.entries(raw).filter(([key]) => key.toLowerCase() !== "type"));
      return { Type: type, ...rest };
    },
    leaseData: () => {
      throw cannotPublish();
    },
    mtu: () => {
      throw cannotPublish();
    },
  };
}

export const flanneldOnlyBackends = (publishable: readonly string[]): BackendPlugin[] =>
  FLANNELD_ONLY_TYPES.map((type) => flanneldOnlyBackend(type, publishable));
