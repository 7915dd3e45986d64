/** The EC2-compatible endpoint (issue 11): see src/ec2/server.ts. */
import type { CredentialStore } from './credentials';
import { DEFAULT_POLICY, allowsAction, allowsVpc, vpcGuard, type Policy } from './policy';
import type { Ec2Security } from './server';

export {
  DEFAULT_MAX_SKEW_SECONDS,
  Ec2Server,
  isLoopback,
  type Ec2Security,
  type Ec2ServerOptions,
} from './server';
export { EC2_ACTIONS } from './actions';

/** The endpoint's view of the credential store and the policy rules (src/ec2/policy.ts). */
export function ec2Security(credentials: CredentialStore): Ec2Security {
  return {
    lookup: (akid) => credentials.lookup(akid),
    allowsAction: (policy, action) => allowsAction(policy as Policy, action),
    vpcGuard: (policy) => vpcGuard(policy as Policy),
    allowsVpc: (policy, vpcId) => allowsVpc(policy as Policy, vpcId),
    defaultPolicy: DEFAULT_POLICY,
  };
}
