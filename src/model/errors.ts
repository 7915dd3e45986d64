/**
 * AWS-style errors: every rejected request throws one AwsError whose `code` is
 * the EC2 API error code (what clients switch on) and whose message is one
 * line for humans.
 */

export class AwsError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'AwsError';
    this.code = code;
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export const ErrorCodes = {
  permissionDuplicate: 'InvalidPermission.Duplicate',
  permissionMalformed: 'InvalidPermission.Malformed',
  permissionNotFound: 'InvalidPermission.NotFound',
  parameterValue: 'InvalidParameterValue',
  parameter: 'InvalidParameter',
  missingParameter: 'MissingParameter',
  groupNotFound: 'InvalidGroup.NotFound',
  groupDuplicate: 'InvalidGroup.Duplicate',
  groupReserved: 'InvalidGroup.Reserved',
  groupIdMalformed: 'InvalidGroupId.Malformed',
  cannotDelete: 'CannotDelete',
  dependencyViolation: 'DependencyViolation',
  rulesPerGroupLimit: 'RulesPerSecurityGroupLimitExceeded',
  groupsPerEniLimit: 'SecurityGroupsPerInterfaceLimitExceeded',
  groupLimit: 'SecurityGroupLimitExceeded',
  ruleIdMalformed: 'InvalidSecurityGroupRuleId.Malformed',
  ruleIdNotFound: 'InvalidSecurityGroupRuleId.NotFound',
  prefixListIdMalformed: 'InvalidPrefixListId.Malformed',
  prefixListNotFound: 'InvalidPrefixListID.NotFound',
  // [U] AWS's exact code for too many entries is not documented; this name is ours.
  prefixListMaxEntries: 'PrefixListMaxEntriesExceeded',
  // [U] likewise for the prefix-lists-per-region quota.
  prefixListLimit: 'PrefixListLimitExceeded',
  vpcNotFound: 'InvalidVpcID.NotFound',
  vpcIdNotSpecified: 'VPCIdNotSpecified',
  vpcRange: 'InvalidVpc.Range',
  parameterCombination: 'InvalidParameterCombination',
  subnetNotFound: 'InvalidSubnetID.NotFound',
  subnetRange: 'InvalidSubnet.Range',
  subnetConflict: 'InvalidSubnet.Conflict',
  eniNotFound: 'InvalidNetworkInterfaceID.NotFound',
  ipInUse: 'InvalidIPAddress.InUse',
  naclNotFound: 'InvalidNetworkAclID.NotFound',
  // [U] AWS documents no Malformed code for acl- ids; named like the other id kinds.
  naclIdMalformed: 'InvalidNetworkAclId.Malformed',
  naclEntryExists: 'NetworkAclEntryAlreadyExists',
  naclEntryNotFound: 'InvalidNetworkAclEntry.NotFound',
  naclEntryLimit: 'NetworkAclEntryLimitExceeded',
  naclLimit: 'NetworkAclLimitExceeded',
  associationNotFound: 'InvalidAssociationID.NotFound',
  flowLogExists: 'FlowLogAlreadyExists',
  flowLogLimit: 'FlowLogsLimitExceeded',
  flowLogNotFound: 'InvalidFlowLogId.NotFound',
  logDestinationNotFound: 'LogDestinationNotFound',
  logDestinationPermission: 'LogDestinationPermissionIssue',
  // The EC2 endpoint (issue 11) and the operations it brought.
  dryRunOperation: 'DryRunOperation',
  unauthorizedOperation: 'UnauthorizedOperation',
  unsupportedOperation: 'UnsupportedOperation',
  idempotentParameterMismatch: 'IdempotentParameterMismatch',
  prefixListVersionMismatch: 'PrefixListVersionMismatch',
  incorrectState: 'IncorrectState',
  invalidId: 'InvalidID',
  tagLimitExceeded: 'TagLimitExceeded',
  routeTableNotFound: 'InvalidRouteTableID.NotFound',
  invalidFilter: 'InvalidParameterValue',
  insufficientFreeAddresses: 'InsufficientFreeAddressesInSubnet',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export function awsError(code: ErrorCode, message: string): AwsError {
  return new AwsError(code, message);
}

export function invalidValue(message: string): AwsError {
  return new AwsError(ErrorCodes.parameterValue, message);
}

export function missing(parameter: string): AwsError {
  return new AwsError(
    ErrorCodes.missingParameter,
    `The request must contain the parameter ${parameter}`,
  );
}

export function isAwsError(e: unknown): e is AwsError {
  return e instanceof AwsError;
}
