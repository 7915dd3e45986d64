/** ENIs: create (addresses, MAC, TAP, groups), modify (groups, settings), delete, describe. */
import { addressFamily, addressInCidr, canonicalAddress, isReservedSubnetAddress } from './cidr';
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
  checkMac,
  checkNetns,
  checkOptionalDescription,
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

export function createEni(s: State, input: CreateEniInput): Eni {
  const tap = checkTapName(input.tap);
  for (const other of s.enis.values()) {
    if (other.tap === tap) throw invalidValue(`The tap '${tap}' is already used by ${other.id}`);
  }
  const subnet = input.subnetId === undefined ? defaultSubnet(s) : requireSubnet(s, input.subnetId);
  const used = addressesInUse(s, subnet.vpcId);
  const privateIp = checkEniAddress(input.privateIp, subnet, 'ipv4', 'PrivateIpAddress', used);
  const listOf = (v: unknown, field: string): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw invalidValue(`${field} must be a list`);
    return v;
  };
  const secondaryIps = listOf(input.secondaryIps, 'secondaryIps').map((ip) =>
    checkEniAddress(ip, subnet, 'ipv4', 'SecondaryPrivateIpAddress', used),
  );
  const ipv6Addresses = listOf(input.ipv6Addresses, 'ipv6Addresses').map((ip) =>
    checkEniAddress(ip, subnet, 'ipv6', 'Ipv6Address', used),
  );
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
    tap,
    tags: [],
  };
  const netns = checkNetns(input.netns);
  if (netns !== undefined) eni.netns = netns;
  const description = checkOptionalDescription(input.description, 'Description');
  if (description !== undefined) eni.description = description;
  s.enis.set(eni.id, eni);
  s.changes.created('enis', eni.id);
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
  eni.groupIds = [...groupIds];
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
