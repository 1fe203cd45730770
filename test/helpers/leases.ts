/** Subnets and lease values as tests write them: short, and in documentation address space. */
import { parsePrefix } from "../../src/ip.ts";
import type { LeaseAttrs, SubnetKey } from "../../src/lease.ts";

/** An IPv4-only subnet key from "10.5.7.0/24". */
export const v4 = (text: string): SubnetKey => ({ ipv4: parsePrefix(text, 4)! });

/** The lease value of test host n (192.0.2.n, TEST-NET-1), with any extra fields. */
export const host = (n: number, extra: Partial<LeaseAttrs> = {}): LeaseAttrs => ({ PublicIP: `192.0.2.${n}`, PublicIPv6: null, ...extra });
