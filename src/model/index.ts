/** The model's public surface: the Model class, its contracts and reusable helpers. */
export * from './types';
export * from './operations';
export { AwsError, ErrorCodes, awsError, isAwsError, type ErrorCode } from './errors';
export { newId, isValidId, hasIdPrefix, ID_PREFIXES, type IdKind } from './ids';
export {
  parseAddress,
  parseCidr,
  canonicalAddress,
  canonicalCidr,
  addressFamily,
  cidrFamily,
  addressToBigInt,
  bigIntToAddressString,
  cidrRange,
  cidrContains,
  cidrsOverlap,
  addressInCidr,
  reservedSubnetAddresses,
  isReservedSubnetAddress,
  subnetRouterAddress,
  addressValue,
  addressBytes,
  cidrBounds,
  cidrOffset,
  canonicalPeer,
  readPeerAddress,
  type ParsedCidr,
  type AddressValue,
  type CidrBounds,
} from './cidr';
export {
  normalizeProtocol,
  normalizePorts,
  protocolNumber,
  hasPortRange,
  hasIcmpTypeCode,
  PROTOCOL_NUMBERS,
} from './protocol';
export {
  DEFAULT_QUOTAS,
  MAX_GROUPS_PER_ENI,
  MAX_RULES_TIMES_GROUPS,
  MAX_NACL_ENTRIES_PER_DIRECTION,
  applyQuotaChange,
} from './quotas';
export { ruleKey, ruleWeight, type RuleSpec } from './rules';
export { DEFAULT_CONNECTION_TRACKING } from './validate';
export {
  Model,
  type ModelOptions,
  DEFAULT_ACCOUNT_ID,
  DEFAULT_REGION,
  DEFAULT_VPC_ID,
  DEFAULT_SUBNET_ID,
  DEFAULT_GROUP_ID,
  DEFAULT_NACL_ID,
  DEFAULT_NACL_ASSOCIATION_ID,
  DEFAULT_VPC_CIDR,
  DEFAULT_SUBNET_CIDR,
} from './model';
export * from './network-acls';
export * from './flow-logs';
