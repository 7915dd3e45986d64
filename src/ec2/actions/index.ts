/** Every EC2 Action the endpoint serves, by name. */
import type { Ec2Action } from './action';
import { flowLogActions } from './flow-logs';
import { networkAclActions } from './network-acls';
import { networkInterfaceActions } from './network-interfaces';
import { prefixListActions } from './prefix-lists';
import { securityGroupActions } from './security-groups';
import { tagActions } from './tags';
import { vpcActions } from './vpcs';

export const EC2_ACTIONS: ReadonlyMap<string, Ec2Action> = new Map(
  [
    ...securityGroupActions,
    ...vpcActions,
    ...networkInterfaceActions,
    ...prefixListActions,
    ...networkAclActions,
    ...flowLogActions,
    ...tagActions,
  ].map((a) => [a.name, a]),
);
