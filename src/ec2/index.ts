/** The EC2-compatible endpoint (issue 11): see src/ec2/server.ts. */
export { Ec2Server, isLoopback, type Ec2Security, type Ec2ServerOptions } from './server';
export { EC2_ACTIONS } from './actions';
