/**
 * CNI errors: what the plugin prints on stdout (with a non-zero exit) when a
 * command fails, `{cniVersion, code, msg, details}` (CNI spec 1.1 §"Error").
 */

/** Well-known codes (spec) and eniwall's own (100+). */
export const CniCodes = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4, // the message names the variable
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11, // e.g. the daemon is down or does not answer in time
  notAvailable: 50, // STATUS: the plugin cannot serve ADDs now
  // eniwall's own:
  daemonRefused: 100, // the daemon answered with an error; details carry its AWS code
  attachmentNotFound: 101, // CHECK: no eniwall ENI for (CNI_CONTAINERID, CNI_IFNAME)
  interfaceMismatch: 102, // CHECK: the link in the namespace is missing or differs from the ENI
  ipamFailure: 103, // the chained IPAM plugin failed or gave no IPv4 address
  attachmentConflict: 104, // ADD: the attachment exists already, in another namespace
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = { cniVersion, code: this.code, msg: this.message };
    if (this.details !== undefined && this.details !== '') out['details'] = this.details;
    return out;
  }
}
