/**
 * sts:GetCallerIdentity on the EC2 port (Terraform calls it unless told to
 * skip it). STS is awsQuery: Version 2011-06-15, its own XML envelope.
 */
export const STS_VERSION = '2011-06-15';
export const STS_ACTIONS: ReadonlySet<string> = new Set(['GetCallerIdentity']);

export interface CallerIdentity {
  UserId: string;
  Account: string;
  Arn: string;
}

/** The caller as STS names it: an IAM user named like the credential. */
export function callerIdentity(
  accessKeyId: string,
  name: string,
  accountId: string,
): CallerIdentity {
  return { UserId: accessKeyId, Account: accountId, Arn: `arn:aws:iam::${accountId}:user/${name}` };
}
