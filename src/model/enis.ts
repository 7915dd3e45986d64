/**
 * ENIs: create (addresses, MAC, TAP, groups), attach, modify (groups,
 * settings), delete, describe.
 *
 * The TAP is optional: an ENI created without one (no `tap`, no
 * `eniwall:tap` tag) is unbound — Status 'available', no dataplane port —
 * until eni.attach binds it. Its addresses still resolve in group references
 * (a rule naming one of its groups matches them), as a detached ENI's do in
 * AWS: membership follows the groups, not the attachment. CreateTags adding
 * `eniwall:tap` later binds nothing; only attach does.
 *
 * The port is a TAP or a QEMU stream socket (`qemuSocket`, README "QEMU
 * VMs"), never both: isBound() says whether an ENI has either.
 *
 * Without a private IP the lowest free address of the subnet is allocated
 * (the 4 reserved at the start and the broadcast skipped, and every address
 * an ENI of the VPC uses).
 */
import {
  addressFamily,
  addressInCidr,
  bigIntToAddressString,
  canonicalAddress,
  cidrRange,
  isReservedSubnetAddress,
} from './cidr';
import { lookupClientToken, recordClientToken } from './client-tokens';
import { awsError, ErrorCodes, invalidValue, missing } from './errors';
import { applyResourceDeleted } from './flow-logs';
import type { CreateEniInput, ModifyEniInput } from './operations';
import { renderContext } from './groups';
import { renderNetworkInterface } from './render';
import {
  clone,
  defaultGroupOf,
  defaultSubnet,
  requireEni,
  requireSubnet,
  resolveGroupRef,
  type State,
  uniqueId,
} from './state';
import type { Eni, Family, Subnet } from './types';
import {
  checkBoolean,
  checkConnectionTracking,
  checkIfName,
  checkMac,
  checkNetns,
  checkNetnsPath,
  checkOptionalDescription,
  checkQemuSocket,
  checkQemuSocketMode,
  checkTags,
  checkTapName,
  DEFAULT_CONNECTION_TRACKING,
  randomMac,
} from './validate';

/** Resolves an ENI's groups in its VPC: deduplicated (first kept), 1..groupsPerEni. */
function resolveEniGroups(s: State, refs: unknown, vpcId: string): string[] {
  if (!Array.isArray(refs)) throw invalidValue('groups must be a list of security groups');
  const ids: string[] = [];
  for (const ref of refs) {
    const g = resolveGroupRef(s, ref, vpcId);
    if (g.vpcId !== vpcId) {
      throw awsError(
        ErrorCodes.parameter,
        `Security group ${g.id} and the network interface's subnet belong to different networks`,
      );
    }
    if (!ids.includes(g.id)) ids.push(g.id);
  }
  if (ids.length === 0) throw missing('SecurityGroupId');
  if (ids.length > s.quotas.groupsPerEni) {
    throw awsError(
      ErrorCodes.groupsPerEniLimit,
      `The maximum number of security groups per interface (${s.quotas.groupsPerEni}) has been reached`,
    );
  }
  return ids;
}

/** Addresses (canonical) used by ENIs of a VPC. */
function addressesInUse(s: State, vpcId: string): Set<string> {
  const used = new Set<string>();
  for (const eni of s.enis.values()) {
    if (eni.vpcId !== vpcId) continue;
    for (const ip of [eni.privateIp, ...eni.secondaryIps, ...eni.ipv6Addresses]) used.add(ip);
  }
  return used;
}

function checkEniAddress(
  raw: unknown,
  subnet: Subnet,
  family: Family,
  field: string,
  used: Set<string>,
): string {
  if (raw === undefined || raw === null || raw === '') throw missing(field);
  const ip = typeof raw === 'string' ? canonicalAddress(raw) : undefined;
  if (ip === undefined || addressFamily(ip) !== family) {
    throw invalidValue(
      `Invalid value '${String(raw)}' for ${field}: not an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address`,
    );
  }
  const cidr = family === 'ipv4' ? subnet.cidr : subnet.ipv6Cidr;
  if (cidr === undefined) {
    throw invalidValue(`Subnet ${subnet.id} has no IPv6 CIDR block: cannot assign ${ip}`);
  }
  if (!addressInCidr(ip, cidr)) {
    throw invalidValue(`Address ${ip} does not fall within the subnet's address range (${cidr})`);
  }
  if (isReservedSubnetAddress(ip, cidr)) {
    throw invalidValue(`Address ${ip} is reserved in subnet ${subnet.id} (${cidr})`);
  }
  if (used.has(ip)) throw awsError(ErrorCodes.ipInUse, `Address ${ip} is in use`);
  used.add(ip);
  return ip;
}

/** Tags that bind an ENI to its port at create time (they stay visible as tags). */
export const TAP_TAG = 'eniwall:tap';
export const NETNS_TAG = 'eniwall:netns';

/** A param and its tag: either alone, or both equal (InvalidParameterCombination otherwise). */
function paramOrTag(param: unknown, tag: string | undefined, field: string): unknown {
  if (param === undefined || param === null || param === '') return tag;
  if (tag !== undefined && tag !== param) {
    throw awsError(
      ErrorCodes.parameterCombination,
      `${field} '${String(param)}' and the tag ${field === 'tap' ? TAP_TAG : NETNS_TAG}='${tag}' differ`,
    );
  }
  return param;
}

/** An ENI with a port: a TAP, a QEMU stream socket or a vhost-user socket. */
export function isBound(eni: Eni): boolean {
  return eni.tap !== undefined || eni.qemuSocket !== undefined || eni.vhostUser !== undefined;
}

/** A QEMU socket path no other ENI uses. */
function checkQemuSocketFree(s: State, path: string, self?: string): void {
  for (const other of s.enis.values()) {
    if (other.id !== self && other.qemuSocket === path) {
      throw invalidValue(`The QEMU socket '${path}' is already used by ${other.id}`);
    }
  }
}

/** The socket mode, which needs a socket to apply to. */
function qemuModeFor(
  qemuSocket: string | undefined,
  raw: unknown,
): 'listen' | 'connect' | undefined {
  const mode = checkQemuSocketMode(raw);
  if (mode !== undefined && qemuSocket === undefined) {
    throw awsError(ErrorCodes.parameterCombination, 'qemuSocketMode needs qemuSocket');
  }
  return mode;
}

/** A vhost-user socket path: absolute, fits sockaddr_un (107 bytes), no NUL, no other ENI's. */
function checkVhostUser(s: State, raw: unknown): string | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string' || !raw.startsWith('/') || raw.includes('\0'))
    throw invalidValue(`Invalid value '${String(raw)}' for vhostUser: not an absolute path`);
  if (Buffer.byteLength(raw) > 107)
    throw invalidValue(`Invalid value for vhostUser: the path is longer than 107 bytes`);
  for (const other of s.enis.values()) {
    if (other.vhostUser === raw)
      throw invalidValue(`The vhost-user socket '${raw}' is already used by ${other.id}`);
  }
  return raw;
}

/** A TAP name no other ENI uses. */
function checkTapFree(s: State, tap: string, self?: string): void {
  for (const other of s.enis.values()) {
    if (other.id !== self && other.tap === tap) {
      throw invalidValue(`The tap '${tap}' is already used by ${other.id}`);
    }
  }
}

/** The lowest free IPv4 address of the subnet (reserved ones and `used` skipped). */
function allocateAddress(subnet: Subnet, used: Set<string>): string {
  const [first, last] = cidrRange(subnet.cidr);
  // +0 network, +1 router, +2 DNS, +3 reserved; `last` is the broadcast.
  for (let v = first + 4n; v < last; v++) {
    const ip = bigIntToAddressString('ipv4', v);
    if (!used.has(ip)) {
      used.add(ip);
      return ip;
    }
  }
  throw awsError(
    ErrorCodes.insufficientFreeAddresses,
    `Insufficient free IP addresses in subnet ${subnet.id} (${subnet.cidr})`,
  );
}

export function createEni(s: State, input: CreateEniInput): Eni {
  // A repeat of an earlier call is answered before anything else is checked (its TAP is taken now).
  const token = lookupClientToken(s, 'CreateNetworkInterface', input.clientToken, input, (id) =>
    s.enis.has(id),
  );
  if (token?.resourceId !== undefined) {
    return clone(s.enis.get(token.resourceId) as Eni); // a repeat: nothing changes
  }
  const tags = checkTags(input.tags);
  const tagValue = (key: string) => tags.find((t) => t.Key === key)?.Value;
  const rawTap = paramOrTag(input.tap, tagValue(TAP_TAG), 'tap');
  const tap = rawTap === undefined ? undefined : checkTapName(rawTap);
  if (tap !== undefined) checkTapFree(s, tap);
  const rawNetns = paramOrTag(input.netns, tagValue(NETNS_TAG), 'netns');
  const netns = checkNetns(rawNetns);
  const netnsPath = checkNetnsPath(input.netnsPath);
  const ifName = checkIfName(input.ifName);
  const qemuSocket = checkQemuSocket(input.qemuSocket);
  const qemuSocketMode = qemuModeFor(qemuSocket, input.qemuSocketMode);
  if (qemuSocket !== undefined) {
    if (tap !== undefined) {
      throw awsError(
        ErrorCodes.parameterCombination,
        'tap and qemuSocket are mutually exclusive: an ENI has one port',
      );
    }
    if (netns !== undefined || netnsPath !== undefined || ifName !== undefined) {
      throw awsError(
        ErrorCodes.parameterCombination,
        'netns, netnsPath and ifName name a TAP; a QEMU socket ENI has none',
      );
    }
    checkQemuSocketFree(s, qemuSocket);
  }
  if (netns !== undefined && netnsPath !== undefined) {
    throw awsError(ErrorCodes.parameterCombination, 'netns and netnsPath are mutually exclusive');
  }
  const vhostUser = checkVhostUser(s, input.vhostUser);
  if (vhostUser !== undefined && qemuSocket !== undefined) {
    throw awsError(
      ErrorCodes.parameterCombination,
      'vhostUser and qemuSocket are mutually exclusive (an ENI has one kind of port)',
    );
  }
  if (vhostUser !== undefined && (tap !== undefined || ifName !== undefined)) {
    throw awsError(
      ErrorCodes.parameterCombination,
      'vhostUser and tap are mutually exclusive (an ENI has one kind of port)',
    );
  }
  if ((netns !== undefined || netnsPath !== undefined) && tap === undefined) {
    throw missing('tap (a namespace is only meaningful for a bound ENI)');
  }
  // In our own namespace the link keeps its tap name (that is what names the TAP there).
  if (ifName !== undefined && netns === undefined && netnsPath === undefined) {
    throw missing('netns or netnsPath (ifName names the link inside a namespace)');
  }
  const subnet = input.subnetId === undefined ? defaultSubnet(s) : requireSubnet(s, input.subnetId);
  const used = addressesInUse(s, subnet.vpcId);
  const listOf = (v: unknown, field: string): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw invalidValue(`${field} must be a list`);
    return v;
  };
  // Explicit addresses first, so the allocated one never takes an address the request names.
  const explicitPrimary =
    input.privateIp === undefined || input.privateIp === null || input.privateIp === ''
      ? undefined
      : checkEniAddress(input.privateIp, subnet, 'ipv4', 'PrivateIpAddress', used);
  const secondaryIps = listOf(input.secondaryIps, 'secondaryIps').map((ip) =>
    checkEniAddress(ip, subnet, 'ipv4', 'SecondaryPrivateIpAddress', used),
  );
  const ipv6Addresses = listOf(input.ipv6Addresses, 'ipv6Addresses').map((ip) =>
    checkEniAddress(ip, subnet, 'ipv6', 'Ipv6Address', used),
  );
  const privateIp = explicitPrimary ?? allocateAddress(subnet, used);
  const macs = new Set([...s.enis.values()].map((e) => e.mac));
  let mac: string;
  if (input.mac === undefined || input.mac === null) {
    do mac = randomMac();
    while (macs.has(mac));
  } else {
    mac = checkMac(input.mac);
    if (macs.has(mac)) throw invalidValue(`The MAC address ${mac} is already in use`);
  }
  const groupIds =
    input.groups === undefined || input.groups === null || input.groups.length === 0
      ? [defaultGroupOf(s, subnet.vpcId).id]
      : resolveEniGroups(s, input.groups, subnet.vpcId);
  const eni: Eni = {
    id: uniqueId('eni', (id) => s.enis.has(id)),
    subnetId: subnet.id,
    vpcId: subnet.vpcId,
    mac,
    privateIp,
    secondaryIps,
    ipv6Addresses,
    groupIds,
    sourceDestCheck: checkBoolean(input.sourceDestCheck, 'SourceDestCheck', true),
    connectionTracking: checkConnectionTracking(
      DEFAULT_CONNECTION_TRACKING,
      input.connectionTracking,
    ),
    tags,
  };
  if (tap !== undefined) eni.tap = tap;
  if (qemuSocket !== undefined) eni.qemuSocket = qemuSocket;
  if (qemuSocketMode === 'connect') eni.qemuSocketMode = 'connect';
  if (vhostUser !== undefined) eni.vhostUser = vhostUser;
  if (netns !== undefined) eni.netns = netns;
  if (netnsPath !== undefined) eni.netnsPath = netnsPath;
  if (ifName !== undefined) eni.ifName = ifName;
  const description = checkOptionalDescription(input.description, 'Description');
  if (description !== undefined) eni.description = description;
  s.enis.set(eni.id, eni);
  s.changes.created('enis', eni.id);
  if (token !== undefined) recordClientToken(s, token, eni.id);
  s.rev++;
  return clone(eni);
}

/** Where an ENI's port is, for messages: `tap 'x'`, `QEMU socket '/p'`, `vhost-user '/p'`. */
function portLabel(eni: Eni): string {
  if (eni.tap !== undefined) return `tap '${eni.tap}'`;
  if (eni.qemuSocket !== undefined) return `QEMU socket '${eni.qemuSocket}'`;
  return `vhost-user '${eni.vhostUser}'`;
}

/** Forgets the ENI's port binding (every kind's fields); addresses, MAC, groups stay. */
function clearBinding(eni: Eni): void {
  delete eni.tap;
  delete eni.netns;
  delete eni.netnsPath;
  delete eni.ifName;
  delete eni.qemuSocket;
  delete eni.qemuSocketMode;
  delete eni.vhostUser;
}

/**
 * Binds an ENI to a TAP (and namespace), a QEMU stream socket or a vhost-user
 * socket. A bound ENI is IncorrectState unless `replace`: then the new port
 * takes the old one's place in one apply (the old port stays if the new one
 * cannot be opened, since the whole change is rolled back).
 */
export function attachEni(
  s: State,
  id: string,
  input: {
    tap?: unknown;
    netns?: unknown;
    qemuSocket?: unknown;
    vhostUser?: unknown;
    replace?: unknown;
    qemuSocketMode?: unknown;
  },
): Eni {
  const eni = requireEni(s, id);
  const replace = checkBoolean(input.replace, 'Replace', false);
  const qemuSocket = checkQemuSocket(input.qemuSocket);
  const qemuSocketMode = qemuModeFor(qemuSocket, input.qemuSocketMode);
  const given = (v: unknown) => v !== undefined && v !== null && v !== '';
  const kinds = [given(input.tap), qemuSocket !== undefined, given(input.vhostUser)].filter(
    Boolean,
  ).length;
  if (kinds > 1) {
    throw awsError(
      ErrorCodes.parameterCombination,
      'tap, qemuSocket and vhostUser are mutually exclusive: an ENI has one port',
    );
  }
  if (kinds === 0) throw missing('tap (or qemuSocket, or vhostUser)');
  if (isBound(eni) && !replace) {
    throw awsError(
      ErrorCodes.incorrectState,
      `The network interface ${eni.id} is already attached (${portLabel(eni)}): ` +
        'detach it first, or attach with replace',
    );
  }
  if (qemuSocket !== undefined || given(input.vhostUser)) {
    if (given(input.netns)) {
      throw awsError(ErrorCodes.parameterCombination, 'netns names a TAP; a socket ENI has none');
    }
  }
  if (qemuSocket !== undefined) {
    checkQemuSocketFree(s, qemuSocket, eni.id);
    clearBinding(eni);
    eni.qemuSocket = qemuSocket;
    if (qemuSocketMode === 'connect') eni.qemuSocketMode = 'connect';
  } else if (given(input.vhostUser)) {
    const vhostUser =
      eni.vhostUser === input.vhostUser ? eni.vhostUser : checkVhostUser(s, input.vhostUser);
    clearBinding(eni);
    eni.vhostUser = vhostUser;
  } else {
    const tap = checkTapName(input.tap);
    checkTapFree(s, tap, eni.id);
    const netns = checkNetns(input.netns);
    clearBinding(eni);
    eni.tap = tap;
    if (netns !== undefined) eni.netns = netns;
  }
  s.changes.modified('enis', eni.id);
  s.rev++;
  return clone(eni);
}

/**
 * Unbinds an ENI from its port (TAP, QEMU socket or vhost-user socket): the
 * apply closes the port (a TAP is deleted, a socket file removed) and flushes
 * its conntrack zone; the ENI keeps its id, addresses, MAC, groups and tags,
 * and can be attached again. IncorrectState when it has no port.
 */
export function detachEni(s: State, id: string): Eni {
  const eni = requireEni(s, id);
  if (!isBound(eni)) {
    throw awsError(
      ErrorCodes.incorrectState,
      `The network interface ${eni.id} is not attached to a port`,
    );
  }
  clearBinding(eni);
  s.changes.modified('enis', eni.id);
  s.rev++;
  return clone(eni);
}

export function modifyEni(s: State, id: string, input: ModifyEniInput): Eni {
  const eni = requireEni(s, id);
  const groupIds =
    input.groups === undefined ? eni.groupIds : resolveEniGroups(s, input.groups, eni.vpcId);
  const sourceDestCheck = checkBoolean(
    input.sourceDestCheck,
    'SourceDestCheck',
    eni.sourceDestCheck,
  );
  const connectionTracking = checkConnectionTracking(
    eni.connectionTracking,
    input.connectionTracking,
  );
  // An empty description removes it (ModifyNetworkInterfaceAttribute Description.Value='').
  const description =
    input.description === undefined
      ? eni.description
      : checkOptionalDescription(input.description, 'Description');
  eni.groupIds = [...groupIds];
  if (description === undefined || description === '') delete eni.description;
  else eni.description = description;
  eni.sourceDestCheck = sourceDestCheck;
  eni.connectionTracking = connectionTracking;
  s.changes.modified('enis', eni.id);
  s.rev++;
  return clone(eni);
}

export function deleteEni(s: State, id: string): Eni {
  const eni = requireEni(s, id);
  s.enis.delete(eni.id);
  s.changes.deleted('enis', eni.id);
  applyResourceDeleted(s, eni.id); // its flow logs go with it, as in AWS
  s.rev++;
  return clone(eni);
}

export function listEnis(s: State, ids?: string[]): Eni[] {
  if (ids === undefined || ids.length === 0) return clone([...s.enis.values()]);
  return ids.map((id) => clone(requireEni(s, id)));
}

export function describeNetworkInterfaces(
  s: State,
  ids?: string[],
): { NetworkInterfaces: Record<string, unknown>[] } {
  const ctx = renderContext(s);
  const enis =
    ids === undefined || ids.length === 0
      ? [...s.enis.values()]
      : ids.map((id) => requireEni(s, id));
  return { NetworkInterfaces: enis.map((eni) => renderNetworkInterface(ctx, eni)) };
}
