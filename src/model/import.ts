/**
 * Shape checks for `aws ec2 describe-security-groups` output before the model
 * imports it. Only the fields the model keeps are read; rule contents are
 * validated later by the same code as authorize (rules.ts).
 */
import { awsError, ErrorCodes, invalidValue, missing } from './errors';
import { isValidId } from './ids';
import type { IpPermission } from './operations';

export interface ImportedGroup {
  GroupId: string;
  GroupName: string;
  Description: unknown;
  VpcId?: string;
  Tags: unknown;
  IpPermissions: IpPermission[];
  IpPermissionsEgress: IpPermission[];
}

function listOf(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidValue(`${field} must be a list`);
  return value;
}

/** Reads the SecurityGroups list; throws InvalidParameterValue / MissingParameter / InvalidGroupId.Malformed. */
export function parseDescribeSecurityGroups(json: unknown): ImportedGroup[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalidValue(
      'Import expects the JSON object printed by aws ec2 describe-security-groups',
    );
  }
  const groups = (json as { SecurityGroups?: unknown }).SecurityGroups;
  if (!Array.isArray(groups)) throw missing('SecurityGroups');
  const seen = new Set<string>();
  return groups.map((raw: unknown, index) => {
    if (typeof raw !== 'object' || raw === null)
      throw invalidValue(`SecurityGroups[${index}] must be an object`);
    const g = raw as Record<string, unknown>;
    if (typeof g.GroupId !== 'string' || g.GroupId === '')
      throw missing(`SecurityGroups[${index}].GroupId`);
    if (!isValidId('group', g.GroupId)) {
      throw awsError(
        ErrorCodes.groupIdMalformed,
        `Invalid id: "${g.GroupId}" (expecting "sg-...")`,
      );
    }
    if (seen.has(g.GroupId)) throw invalidValue(`Group ${g.GroupId} appears twice in the import`);
    seen.add(g.GroupId);
    if (typeof g.GroupName !== 'string' || g.GroupName === '') {
      throw missing(`SecurityGroups[${index}].GroupName`);
    }
    if (g.VpcId !== undefined && typeof g.VpcId !== 'string')
      throw invalidValue('VpcId must be a string');
    return {
      GroupId: g.GroupId,
      GroupName: g.GroupName,
      Description: g.Description,
      VpcId: g.VpcId as string | undefined,
      Tags: g.Tags,
      IpPermissions: listOf(g.IpPermissions, 'IpPermissions') as IpPermission[],
      IpPermissionsEgress: listOf(g.IpPermissionsEgress, 'IpPermissionsEgress') as IpPermission[],
    };
  });
}
