/**
 * Network ACLs: stateless, numbered allow/deny entries per direction, one NACL
 * per subnet (its association), many subnets per NACL.
 *
 * Every VPC is born with a default NACL (rule 100 allow all IPv4, plus 101
 * allow all IPv6 when the VPC has an IPv6 CIDR, both directions) and every new
 * subnet is associated with it; a custom NACL starts empty (only the implicit
 * `*` deny). The `*` rules are never stored: describe shows them as 32767
 * (0.0.0.0/0) and, in a VPC with an IPv6 CIDR, 32768 (::/0).
 *
 * As everywhere in the model, each operation validates everything first and
 * then applies with code that cannot throw; entry and association changes are
 * reported as modifications of their NACL ('networkAcls').
 */
import { parseCidr } from './cidr';
import { AwsError, awsError, ErrorCodes, invalidValue, missing } from './errors';
import { isValidId } from './ids';
import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, PROTOCOL_NUMBERS } from './protocol';
import {
  clone,
  DEFAULT_NACL_ASSOCIATION_ID,
  DEFAULT_NACL_ID,
  DEFAULT_SUBNET_ID,
  DEFAULT_VPC_ID,
  defaultVpc,
  notFound,
  requireSubnet,
  requireVpc,
  type State,
  uniqueId,
} from './state';
import type { NetworkAcl, NetworkAclAssociation, NetworkAclEntry, Tag, Vpc } from './types';
import { checkTags } from './validate';
import { lookupClientToken, recordClientToken } from './client-tokens';

export const MIN_RULE_NUMBER = 1;
export const MAX_RULE_NUMBER = 32766;
/** The implicit catch-all deny rules as describe shows them. */
export const STAR_RULE_IPV4 = 32767;
export const STAR_RULE_IPV6 = 32768;
const DEFAULT_RULE_IPV4 = 100;
const DEFAULT_RULE_IPV6 = 101;

export interface CreateNetworkAclInput {
  vpcId: string;
  tags?: Tag[];
  /** Idempotency (CreateNetworkAcl has a ClientToken): a repeat returns the NACL it created. */
  clientToken?: string;
}

/** CreateNetworkAclEntry / ReplaceNetworkAclEntry, with the EC2 API's fields. */
export interface NetworkAclEntryInput {
  networkAclId: string;
  ruleNumber: number;
  /** '-1'/'all', a name (tcp, udp, icmp, icmpv6) or a number 0..255. */
  protocol: string | number;
  ruleAction: string;
  egress: boolean;
  cidrBlock?: string;
  ipv6CidrBlock?: string;
  portRange?: { from?: number; to?: number };
  icmpTypeCode?: { type?: number; code?: number };
}

export interface DeleteNetworkAclEntryInput {
  networkAclId: string;
  ruleNumber: number;
  egress: boolean;
}

/** ReplaceNetworkAclAssociation: by the current association id, or (eniwall) by the subnet. */
export interface ReplaceNetworkAclAssociationInput {
  associationId?: string;
  subnetId?: string;
  networkAclId: string;
}

export interface DescribeNetworkAclsInput {
  ids?: string[];
  /** Each filter's values are ORed; the filters are ANDed, as in the EC2 API. */
  filters?: { vpcId?: string[]; subnetId?: string[]; isDefault?: boolean };
}

type Json = Record<string, unknown>;

// ------------------------------------------------------------------ lookups

export function requireNetworkAcl(s: State, id: unknown): NetworkAcl {
  if (typeof id !== 'string' || id === '') throw missing('NetworkAclId');
  if (!isValidId('networkAcl', id)) {
    throw awsError(ErrorCodes.naclIdMalformed, `Invalid id: "${id}" (expecting "acl-...")`);
  }
  const acl = s.networkAcls.get(id);
  if (acl === undefined) {
    throw notFound(ErrorCodes.naclNotFound, `The networkAcl ID '${id}' does not exist`);
  }
  return acl;
}

function defaultNaclOf(s: State, vpcId: string): NetworkAcl | undefined {
  for (const acl of s.networkAcls.values()) if (acl.vpcId === vpcId && acl.isDefault) return acl;
  return undefined;
}

/** The NACL a subnet is associated with, if any. */
export function naclOfSubnet(
  s: State,
  subnetId: string,
): { acl: NetworkAcl; association: NetworkAclAssociation } | undefined {
  for (const acl of s.networkAcls.values()) {
    const association = acl.associations.find((a) => a.subnetId === subnetId);
    if (association !== undefined) return { acl, association };
  }
  return undefined;
}

function associationTaken(s: State, id: string): boolean {
  for (const acl of s.networkAcls.values()) {
    if (acl.associations.some((a) => a.id === id)) return true;
  }
  return false;
}

// ----------------------------------------------------- defaults and lifecycle

function allowAll(ruleNumber: number, egress: boolean, family: 'ipv4' | 'ipv6'): NetworkAclEntry {
  return {
    ruleNumber,
    egress,
    protocol: '-1',
    action: 'allow',
    cidr: family === 'ipv4' ? '0.0.0.0/0' : '::/0',
    family,
  };
}

/** AWS's default NACL entries for a VPC, sorted by (egress, ruleNumber). */
export function defaultNaclEntries(vpc: Vpc): NetworkAclEntry[] {
  const out: NetworkAclEntry[] = [];
  for (const egress of [false, true]) {
    out.push(allowAll(DEFAULT_RULE_IPV4, egress, 'ipv4'));
    if (vpc.ipv6Cidr !== undefined) out.push(allowAll(DEFAULT_RULE_IPV6, egress, 'ipv6'));
  }
  return out;
}

/** Apply phase of a new VPC: its default NACL (no associations yet). */
export function applyDefaultNacl(s: State, vpc: Vpc, id: string): NetworkAcl {
  const acl: NetworkAcl = {
    id,
    vpcId: vpc.id,
    ownerId: s.accountId,
    isDefault: true,
    entries: defaultNaclEntries(vpc),
    associations: [],
    tags: [],
  };
  s.networkAcls.set(acl.id, acl);
  s.changes.created('networkAcls', acl.id);
  return acl;
}

export function newNaclId(s: State): string {
  return uniqueId('networkAcl', (id) => s.networkAcls.has(id));
}

export function newAssociationId(s: State, alsoTaken?: Set<string>): string {
  return uniqueId(
    'naclAssociation',
    (id) => associationTaken(s, id) || alsoTaken?.has(id) === true,
  );
}

/** Apply phase of a new subnet: associate it with its VPC's default NACL. */
export function applyNewSubnetAssociation(
  s: State,
  vpcId: string,
  subnetId: string,
  id?: string,
): void {
  const acl = defaultNaclOf(s, vpcId);
  if (acl === undefined) return; // a state built without NACLs: the subnet stays unfiltered
  acl.associations.push({ id: id ?? newAssociationId(s), subnetId });
  s.changes.modified('networkAcls', acl.id);
}

/** Apply phase of a subnet deletion: drop its association. */
export function applySubnetDeleted(s: State, subnetId: string): void {
  const found = naclOfSubnet(s, subnetId);
  if (found === undefined) return;
  found.acl.associations = found.acl.associations.filter((a) => a.subnetId !== subnetId);
  s.changes.modified('networkAcls', found.acl.id);
}

/** The custom NACLs that keep a VPC from being deleted. */
export function customNaclsOf(s: State, vpcId: string): string[] {
  return [...s.networkAcls.values()]
    .filter((a) => a.vpcId === vpcId && !a.isDefault)
    .map((a) => a.id);
}

/** Apply phase of a VPC deletion: its default NACL goes with it. */
export function applyVpcDeleted(s: State, vpcId: string): void {
  for (const acl of [...s.networkAcls.values()]) {
    if (acl.vpcId !== vpcId) continue;
    s.networkAcls.delete(acl.id);
    s.changes.deleted('networkAcls', acl.id);
  }
}

/**
 * Gives every VPC without a default NACL its default one and associates every
 * subnet that has none with it (a store written before NACLs existed). The
 * embedded default VPC gets the well-known ids. Returns whether anything changed.
 */
export function ensureDefaultNetworkAcls(s: State): boolean {
  let changed = false;
  for (const vpc of s.vpcs.values()) {
    if (defaultNaclOf(s, vpc.id) !== undefined) continue;
    const wellKnown = vpc.id === DEFAULT_VPC_ID && !s.networkAcls.has(DEFAULT_NACL_ID);
    applyDefaultNacl(s, vpc, wellKnown ? DEFAULT_NACL_ID : newNaclId(s));
    changed = true;
  }
  for (const subnet of s.subnets.values()) {
    if (naclOfSubnet(s, subnet.id) !== undefined) continue;
    const wellKnown =
      subnet.id === DEFAULT_SUBNET_ID && !associationTaken(s, DEFAULT_NACL_ASSOCIATION_ID);
    applyNewSubnetAssociation(
      s,
      subnet.vpcId,
      subnet.id,
      wellKnown ? DEFAULT_NACL_ASSOCIATION_ID : undefined,
    );
    changed = true;
  }
  if (changed) s.rev++;
  return changed;
}

export function createNetworkAcl(s: State, input: CreateNetworkAclInput): NetworkAcl {
  const token = lookupClientToken(s, 'CreateNetworkAcl', input.clientToken, input, (id) =>
    s.networkAcls.has(id),
  );
  if (token?.resourceId !== undefined) {
    return clone(s.networkAcls.get(token.resourceId) as NetworkAcl); // a repeat: nothing changes
  }
  const vpc = requireVpc(s, input.vpcId);
  const tags = checkTags(input.tags);
  checkNaclQuota(s, vpc.id, 1);
  const acl: NetworkAcl = {
    id: newNaclId(s),
    vpcId: vpc.id,
    ownerId: s.accountId,
    isDefault: false,
    entries: [],
    associations: [],
    tags,
  };
  s.networkAcls.set(acl.id, acl);
  s.changes.created('networkAcls', acl.id);
  if (token !== undefined) recordClientToken(s, token, acl.id);
  s.rev++;
  return clone(acl);
}

function checkNaclQuota(s: State, vpcId: string, adding: number): void {
  const have = [...s.networkAcls.values()].filter((a) => a.vpcId === vpcId).length;
  if (have + adding > s.quotas.naclsPerVpc) {
    throw awsError(
      ErrorCodes.naclLimit,
      `The maximum number of network ACLs for VPC '${vpcId}' (${s.quotas.naclsPerVpc}) has been reached.`,
    );
  }
}

export function deleteNetworkAcl(s: State, id: string): NetworkAcl {
  const acl = requireNetworkAcl(s, id);
  if (acl.isDefault) {
    throw invalidValue(`cannot delete default network ACL ${acl.id}`);
  }
  if (acl.associations.length > 0) {
    const subnets = acl.associations.map((a) => a.subnetId);
    throw awsError(
      ErrorCodes.dependencyViolation,
      `The networkAcl '${acl.id}' has dependencies and cannot be deleted (associated with ${subnets.slice(0, 5).join(', ')}${subnets.length > 5 ? ', ...' : ''})`,
    );
  }
  s.networkAcls.delete(acl.id);
  s.changes.deleted('networkAcls', acl.id);
  s.rev++;
  return clone(acl);
}

// ------------------------------------------------------------------ entries

const DECIMAL = /^-?[0-9]+$/;

function isInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** '-1' or the decimal protocol number, as DescribeNetworkAcls returns it. */
export function normalizeNaclProtocol(input: unknown): string {
  const bad = (): AwsError =>
    invalidValue(
      `Invalid value '${String(input)}' for protocol. Must be tcp, udp, icmp, icmpv6, all, -1 or a protocol number 0-255.`,
    );
  if (input === undefined || input === null || input === '') throw missing('Protocol');
  if (typeof input !== 'string' && typeof input !== 'number') throw bad();
  const text = String(input).trim().toLowerCase();
  if (text === 'all' || text === '-1') return '-1';
  const named = PROTOCOL_NUMBERS[text];
  if (named !== undefined && Object.hasOwn(PROTOCOL_NUMBERS, text)) return String(named);
  if (DECIMAL.test(text)) {
    const num = Number(text);
    if (num >= 0 && num <= 255) return String(num);
  }
  throw bad();
}

export function checkRuleNumber(input: unknown): number {
  if (input === undefined || input === null) throw missing('RuleNumber');
  if (!isInteger(input) || input < MIN_RULE_NUMBER || input > MAX_RULE_NUMBER) {
    throw invalidValue(
      `Invalid value '${String(input)}' for ruleNumber. It must be an integer between ${MIN_RULE_NUMBER} and ${MAX_RULE_NUMBER}.`,
    );
  }
  return input;
}

function checkEgress(input: unknown): boolean {
  if (input === undefined || input === null) throw missing('Egress');
  if (typeof input !== 'boolean') {
    throw invalidValue(`Invalid value '${String(input)}' for egress: true or false`);
  }
  return input;
}

function checkAction(input: unknown): 'allow' | 'deny' {
  if (input === undefined || input === null || input === '') throw missing('RuleAction');
  const text = typeof input === 'string' ? input.toLowerCase() : '';
  if (text !== 'allow' && text !== 'deny') {
    throw invalidValue(`Invalid value '${String(input)}' for ruleAction. Must be allow or deny.`);
  }
  return text;
}

function checkEntryCidr(v4: unknown, v6: unknown): { cidr: string; family: 'ipv4' | 'ipv6' } {
  const given = (x: unknown) => x !== undefined && x !== null && x !== '';
  if (given(v4) && given(v6)) {
    throw awsError(
      ErrorCodes.parameterCombination,
      'Only one of cidrBlock and ipv6CidrBlock can be specified.',
    );
  }
  if (!given(v4) && !given(v6)) throw missing('CidrBlock or Ipv6CidrBlock');
  const family = given(v4) ? 'ipv4' : 'ipv6';
  const text = given(v4) ? v4 : v6;
  const parsed = typeof text === 'string' ? parseCidr(text.trim()) : undefined;
  if (parsed === undefined || parsed.family !== family) {
    const field = family === 'ipv4' ? 'cidrBlock' : 'ipv6CidrBlock';
    throw invalidValue(
      `Value (${String(text)}) for parameter ${field} is invalid. This is not a valid ${family === 'ipv4' ? 'IPv4' : 'IPv6'} CIDR block.`,
    );
  }
  return { cidr: parsed.canonical, family };
}

function checkPortRange(input: unknown, protocol: string): { from: number; to: number } {
  const name = protocol === String(PROTO_TCP) ? 'TCP' : 'UDP';
  const r = (input ?? {}) as { from?: unknown; to?: unknown; From?: unknown; To?: unknown };
  const from = r.from ?? r.From;
  const to = r.to ?? r.To;
  if (input === undefined || input === null || from === undefined || to === undefined) {
    throw invalidValue(
      `Invalid value for portRange. Must specify both from and to ports with ${name}.`,
    );
  }
  const ok = (v: unknown): v is number => isInteger(v) && v >= 0 && v <= 65535;
  if (!ok(from) || !ok(to)) {
    throw invalidValue(
      `Invalid ${name} port range ${String(from)}-${String(to)}: ports must be 0..65535`,
    );
  }
  if (from > to) {
    throw invalidValue(`Invalid ${name} port range ${from}-${to}: from must not exceed to`);
  }
  return { from, to };
}

function checkIcmpTypeCode(input: unknown, protocol: string): { type: number; code: number } {
  const name = protocol === String(PROTO_ICMP) ? 'ICMP' : 'ICMPv6';
  const r = (input ?? {}) as { type?: unknown; code?: unknown; Type?: unknown; Code?: unknown };
  const type = r.type ?? r.Type;
  const code = r.code ?? r.Code;
  if (input === undefined || input === null || type === undefined || code === undefined) {
    throw invalidValue(
      `Invalid value for icmpTypeCode. Must specify both type and code with ${name} (-1 for all).`,
    );
  }
  const ok = (v: unknown): v is number => isInteger(v) && v >= -1 && v <= 255;
  if (!ok(type) || !ok(code)) {
    throw invalidValue(
      `Invalid ${name} type/code ${String(type)}/${String(code)}: each must be -1..255`,
    );
  }
  if (type === -1 && code !== -1) {
    throw invalidValue(`Invalid ${name} code ${code}: with type -1 (all) the code must be -1`);
  }
  return { type, code };
}

/** Validates one entry's fields (not its NACL): the stored, canonical form. */
export function parseNaclEntry(input: Omit<NetworkAclEntryInput, 'networkAclId'>): NetworkAclEntry {
  const ruleNumber = checkRuleNumber(input.ruleNumber);
  const egress = checkEgress(input.egress);
  const protocol = normalizeNaclProtocol(input.protocol);
  const action = checkAction(input.ruleAction);
  const { cidr, family } = checkEntryCidr(input.cidrBlock, input.ipv6CidrBlock);
  const entry: NetworkAclEntry = { ruleNumber, egress, protocol, action, cidr, family };
  const num = Number(protocol);
  if (num === PROTO_TCP || num === PROTO_UDP) {
    entry.portRange = checkPortRange(input.portRange, protocol);
  } else if (num === PROTO_ICMP || (num === PROTO_ICMPV6 && family === 'ipv6')) {
    entry.icmpTypeCode = checkIcmpTypeCode(input.icmpTypeCode, protocol);
  }
  // Any other protocol (and ICMPv6 with an IPv4 CIDR) matches all ports/types: nothing to keep.
  return entry;
}

function compareEntries(a: NetworkAclEntry, b: NetworkAclEntry): number {
  if (a.egress !== b.egress) return a.egress ? 1 : -1;
  return a.ruleNumber - b.ruleNumber;
}

function entryNotFound(ruleNumber: number, egress: boolean): AwsError {
  return awsError(
    ErrorCodes.naclEntryNotFound,
    `The network acl entry identified by ${ruleNumber} (${egress ? 'egress' : 'ingress'}) does not exist.`,
  );
}

function checkEntryQuota(s: State, aclId: string, entries: NetworkAclEntry[]): void {
  for (const egress of [false, true]) {
    const n = entries.filter((e) => e.egress === egress).length;
    if (n > s.quotas.naclEntriesPerDirection) {
      throw awsError(
        ErrorCodes.naclEntryLimit,
        `The network ACL '${aclId}' would have ${n} ${egress ? 'egress' : 'ingress'} entries; the maximum is ${s.quotas.naclEntriesPerDirection}.`,
      );
    }
  }
}

export function createNetworkAclEntry(s: State, input: NetworkAclEntryInput): NetworkAcl {
  const acl = requireNetworkAcl(s, input.networkAclId);
  const entry = parseNaclEntry(input);
  if (acl.entries.some((e) => e.egress === entry.egress && e.ruleNumber === entry.ruleNumber)) {
    throw awsError(
      ErrorCodes.naclEntryExists,
      `The network acl entry identified by ${entry.ruleNumber} already exists.`,
    );
  }
  const entries = [...acl.entries, entry].sort(compareEntries);
  checkEntryQuota(s, acl.id, entries);
  acl.entries = entries;
  s.changes.modified('networkAcls', acl.id);
  s.rev++;
  return clone(acl);
}

export function replaceNetworkAclEntry(s: State, input: NetworkAclEntryInput): NetworkAcl {
  const acl = requireNetworkAcl(s, input.networkAclId);
  const entry = parseNaclEntry(input);
  const index = acl.entries.findIndex(
    (e) => e.egress === entry.egress && e.ruleNumber === entry.ruleNumber,
  );
  if (index < 0) throw entryNotFound(entry.ruleNumber, entry.egress);
  const entries = [...acl.entries];
  entries[index] = entry;
  acl.entries = entries;
  s.changes.modified('networkAcls', acl.id);
  s.rev++;
  return clone(acl);
}

export function deleteNetworkAclEntry(s: State, input: DeleteNetworkAclEntryInput): NetworkAcl {
  const acl = requireNetworkAcl(s, input.networkAclId);
  const ruleNumber = checkRuleNumber(input.ruleNumber);
  const egress = checkEgress(input.egress);
  const index = acl.entries.findIndex((e) => e.egress === egress && e.ruleNumber === ruleNumber);
  if (index < 0) throw entryNotFound(ruleNumber, egress);
  acl.entries = acl.entries.filter((_, i) => i !== index);
  s.changes.modified('networkAcls', acl.id);
  s.rev++;
  return clone(acl);
}

// ------------------------------------------------------------- associations

/** ReplaceNetworkAclAssociation: the subnet moves to `networkAclId` under a new association id. */
export function replaceNetworkAclAssociation(
  s: State,
  input: ReplaceNetworkAclAssociationInput,
): { NewAssociationId: string } {
  let current: { acl: NetworkAcl; association: NetworkAclAssociation } | undefined;
  let subnetId: string;
  if (input.associationId !== undefined && input.associationId !== null) {
    const id = input.associationId;
    if (typeof id === 'string') {
      for (const acl of s.networkAcls.values()) {
        const association = acl.associations.find((a) => a.id === id);
        if (association !== undefined) current = { acl, association };
      }
    }
    if (current === undefined) {
      throw notFound(
        ErrorCodes.associationNotFound,
        `The association ID '${String(id)}' does not exist`,
      );
    }
    subnetId = current.association.subnetId;
  } else if (input.subnetId !== undefined && input.subnetId !== null) {
    subnetId = requireSubnet(s, input.subnetId).id;
    current = naclOfSubnet(s, subnetId);
  } else {
    throw missing('AssociationId');
  }
  const acl = requireNetworkAcl(s, input.networkAclId);
  const subnet = requireSubnet(s, subnetId);
  if (acl.vpcId !== subnet.vpcId) {
    throw invalidValue(
      `Network ACL ${acl.id} (${acl.vpcId}) and subnet ${subnet.id} (${subnet.vpcId}) belong to different VPCs`,
    );
  }
  const newId = newAssociationId(s);
  if (current !== undefined) {
    const old = current.association.id;
    current.acl.associations = current.acl.associations.filter((a) => a.id !== old);
    s.changes.modified('networkAcls', current.acl.id);
  }
  acl.associations = [...acl.associations, { id: newId, subnetId: subnet.id }];
  s.changes.modified('networkAcls', acl.id);
  s.rev++;
  return { NewAssociationId: newId };
}

// ----------------------------------------------------------------- describe

export function listNetworkAcls(s: State, input: DescribeNetworkAclsInput = {}): NetworkAcl[] {
  const ids = input.ids ?? [];
  let acls =
    ids.length === 0 ? [...s.networkAcls.values()] : ids.map((id) => requireNetworkAcl(s, id));
  const f = input.filters ?? {};
  if (f.vpcId !== undefined && f.vpcId.length > 0) {
    const vpcs = new Set(f.vpcId);
    acls = acls.filter((a) => vpcs.has(a.vpcId));
  }
  if (f.subnetId !== undefined && f.subnetId.length > 0) {
    const subnets = new Set(f.subnetId);
    acls = acls.filter((a) => a.associations.some((x) => subnets.has(x.subnetId)));
  }
  if (f.isDefault !== undefined) acls = acls.filter((a) => a.isDefault === f.isDefault);
  return acls;
}

export function describeNetworkAcls(
  s: State,
  input: DescribeNetworkAclsInput = {},
): { NetworkAcls: Json[] } {
  return {
    NetworkAcls: listNetworkAcls(s, input).map((acl) =>
      renderNetworkAcl(acl, s.vpcs.get(acl.vpcId)?.ipv6Cidr !== undefined),
    ),
  };
}

function renderEntry(e: NetworkAclEntry): Json {
  const out: Json = {
    RuleNumber: e.ruleNumber,
    Protocol: e.protocol,
    RuleAction: e.action,
    Egress: e.egress,
  };
  if (e.family === 'ipv4') out.CidrBlock = e.cidr;
  else out.Ipv6CidrBlock = e.cidr;
  if (e.portRange !== undefined) out.PortRange = { From: e.portRange.from, To: e.portRange.to };
  if (e.icmpTypeCode !== undefined) {
    out.IcmpTypeCode = { Type: e.icmpTypeCode.type, Code: e.icmpTypeCode.code };
  }
  return out;
}

/**
 * One NACL in the DescribeNetworkAcls shape. Entries: egress then ingress (as
 * the AWS CLI prints them), each by rule number, each ending with the `*`
 * deny: 32767 for IPv4 and, when the VPC has an IPv6 CIDR, 32768 for IPv6.
 */
export function renderNetworkAcl(acl: NetworkAcl, vpcHasIpv6: boolean): Json {
  const entries: Json[] = [];
  for (const egress of [true, false]) {
    for (const e of acl.entries) if (e.egress === egress) entries.push(renderEntry(e));
    const star = (ruleNumber: number, v6: boolean): Json => ({
      RuleNumber: ruleNumber,
      Protocol: '-1',
      RuleAction: 'deny',
      Egress: egress,
      ...(v6 ? { Ipv6CidrBlock: '::/0' } : { CidrBlock: '0.0.0.0/0' }),
    });
    entries.push(star(STAR_RULE_IPV4, false));
    if (vpcHasIpv6) entries.push(star(STAR_RULE_IPV6, true));
  }
  return {
    NetworkAclId: acl.id,
    VpcId: acl.vpcId,
    IsDefault: acl.isDefault,
    OwnerId: acl.ownerId,
    Associations: acl.associations.map((a) => ({
      NetworkAclAssociationId: a.id,
      NetworkAclId: acl.id,
      SubnetId: a.subnetId,
    })),
    Entries: entries,
    Tags: acl.tags.map((t) => ({ ...t })),
  };
}

// ------------------------------------------------------------------- import

function listOf(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidValue(`${field} must be a list`);
  return value;
}

function objectAt(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidValue(`${field} must be an object`);
  }
  return value as Record<string, unknown>;
}

interface NaclImportPlan {
  /** Target NACL (the live one when it exists here) and what it becomes. */
  items: { acl: NetworkAcl; isNew: boolean; entries: NetworkAclEntry[]; tags: Tag[] }[];
  /** Subnet -> (target NACL id, association id). */
  associations: { subnetId: string; aclId: string; associationId: string }[];
}

/**
 * Validates a DescribeNetworkAcls document against the state; nothing is
 * changed. Each NACL goes into options.vpcId, else its own VpcId when that
 * VPC exists here, else the default VPC. A default NACL is merged into the
 * target VPC's default NACL (its entries replaced); a custom NACL keeps its
 * id, and one whose id exists here in the same VPC has its entries and tags
 * replaced (so re-importing a describe output restores it). The `*` rules
 * (32767, 32768) are skipped. Associations re-point their subnets (which
 * must exist here, in the target VPC), keeping the association id when it is
 * free.
 */
export function planNetworkAclImport(
  s: State,
  json: unknown,
  options: { vpcId?: string } = {},
): NaclImportPlan {
  const doc = objectAt(json, 'The import document');
  const raw = doc.NetworkAcls;
  if (!Array.isArray(raw)) throw missing('NetworkAcls');
  const forced = options.vpcId === undefined ? undefined : requireVpc(s, options.vpcId);
  const plan: NaclImportPlan = { items: [], associations: [] };
  const targets = new Set<string>();
  const subnetsSeen = new Set<string>();
  const assocIds = new Set<string>();
  const newPerVpc = new Map<string, number>();
  raw.forEach((item: unknown, index) => {
    const where = `NetworkAcls[${index}]`;
    const a = objectAt(item, where);
    const id = a.NetworkAclId;
    if (typeof id !== 'string' || id === '') throw missing(`${where}.NetworkAclId`);
    if (!isValidId('networkAcl', id)) {
      throw awsError(ErrorCodes.naclIdMalformed, `Invalid id: "${id}" (expecting "acl-...")`);
    }
    if (a.VpcId !== undefined && typeof a.VpcId !== 'string') {
      throw invalidValue(`${where}.VpcId must be a string`);
    }
    const vpc =
      forced ?? (typeof a.VpcId === 'string' ? s.vpcs.get(a.VpcId) : undefined) ?? defaultVpc(s);
    const isDefault = a.IsDefault === true;
    let acl: NetworkAcl;
    let isNew = false;
    const existing = s.networkAcls.get(id);
    if (isDefault) {
      const local = defaultNaclOf(s, vpc.id);
      if (local !== undefined) acl = local;
      else {
        if (existing !== undefined) throw invalidValue(`The network ACL '${id}' already exists`);
        acl = { ...blankAcl(s, id, vpc.id), isDefault: true };
        isNew = true;
      }
    } else if (existing !== undefined) {
      if (existing.vpcId !== vpc.id || existing.isDefault) {
        throw invalidValue(
          `The network ACL '${id}' already exists in VPC '${existing.vpcId}'; it cannot be imported into '${vpc.id}'`,
        );
      }
      acl = existing;
    } else {
      acl = blankAcl(s, id, vpc.id);
      isNew = true;
      newPerVpc.set(vpc.id, (newPerVpc.get(vpc.id) ?? 0) + 1);
    }
    if (targets.has(acl.id)) {
      throw invalidValue(`The import names the network ACL '${acl.id}' more than once`);
    }
    targets.add(acl.id);

    const entries: NetworkAclEntry[] = [];
    listOf(a.Entries, `${where}.Entries`).forEach((rawEntry: unknown, j) => {
      const e = objectAt(rawEntry, `${where}.Entries[${j}]`);
      if (e.RuleNumber === STAR_RULE_IPV4 || e.RuleNumber === STAR_RULE_IPV6) return;
      const entry = parseNaclEntry({
        ruleNumber: e.RuleNumber as number,
        protocol: e.Protocol as string,
        ruleAction: e.RuleAction as string,
        egress: e.Egress as boolean,
        cidrBlock: e.CidrBlock as string | undefined,
        ipv6CidrBlock: e.Ipv6CidrBlock as string | undefined,
        portRange: e.PortRange as { from?: number; to?: number } | undefined,
        icmpTypeCode: e.IcmpTypeCode as { type?: number; code?: number } | undefined,
      });
      if (entries.some((x) => x.egress === entry.egress && x.ruleNumber === entry.ruleNumber)) {
        throw awsError(
          ErrorCodes.naclEntryExists,
          `The network acl entry identified by ${entry.ruleNumber} appears twice in ${id}.`,
        );
      }
      entries.push(entry);
    });
    entries.sort(compareEntries);
    checkEntryQuota(s, acl.id, entries);
    const tags = checkTags(a.Tags);

    listOf(a.Associations, `${where}.Associations`).forEach((rawAssoc: unknown, j) => {
      const x = objectAt(rawAssoc, `${where}.Associations[${j}]`);
      const subnet = requireSubnet(s, x.SubnetId);
      if (subnet.vpcId !== vpc.id) {
        throw invalidValue(
          `Network ACL ${id} is imported into ${vpc.id}, but subnet ${subnet.id} belongs to ${subnet.vpcId}`,
        );
      }
      if (subnetsSeen.has(subnet.id)) {
        throw invalidValue(`The import associates subnet ${subnet.id} more than once`);
      }
      subnetsSeen.add(subnet.id);
      const wanted = x.NetworkAclAssociationId;
      const current = naclOfSubnet(s, subnet.id);
      // Keep the imported id when it is free here (or already this subnet's).
      const free =
        typeof wanted === 'string' &&
        isValidId('naclAssociation', wanted) &&
        !assocIds.has(wanted) &&
        (!associationTaken(s, wanted) || current?.association.id === wanted);
      const associationId = free ? wanted : newAssociationId(s, assocIds);
      assocIds.add(associationId);
      plan.associations.push({ subnetId: subnet.id, aclId: acl.id, associationId });
    });
    plan.items.push({ acl, isNew, entries, tags });
  });
  for (const [vpcId, n] of newPerVpc) checkNaclQuota(s, vpcId, n);
  return plan;
}

function blankAcl(s: State, id: string, vpcId: string): NetworkAcl {
  return {
    id,
    vpcId,
    ownerId: s.accountId,
    isDefault: false,
    entries: [],
    associations: [],
    tags: [],
  };
}

/** Apply phase of an import plan (cannot throw); returns the NACLs it wrote. */
export function applyNetworkAclImport(s: State, plan: NaclImportPlan): NetworkAcl[] {
  for (const { acl, isNew, entries, tags } of plan.items) {
    acl.entries = entries;
    // A merged default NACL keeps its own tags when the import has none.
    if (!(acl.isDefault && tags.length === 0 && !isNew)) acl.tags = tags;
    if (isNew) {
      s.networkAcls.set(acl.id, acl);
      s.changes.created('networkAcls', acl.id);
    } else s.changes.modified('networkAcls', acl.id);
  }
  for (const { subnetId, aclId, associationId } of plan.associations) {
    applySubnetDeleted(s, subnetId);
    const target = s.networkAcls.get(aclId);
    if (target === undefined) continue; // unreachable: every target is in the plan or the state
    target.associations = [...target.associations, { id: associationId, subnetId }];
    s.changes.modified('networkAcls', target.id);
  }
  return clone(plan.items.map((i) => s.networkAcls.get(i.acl.id) ?? i.acl));
}
