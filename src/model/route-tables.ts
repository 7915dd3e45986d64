/**
 * Route tables (DescribeRouteTables), read-only: every VPC has exactly one,
 * its main route table, synthesized from the VPC and never stored. Routing
 * itself is the dataplane's (everything inside the VPC is local), so the
 * table holds the local route(s) only. Its ids derive from the VPC id
 * (rtb-<the VPC's 17 hex digits>, rtbassoc-<the same>), so they are stable
 * across restarts and need no store rows; CreateTags on an rtb- id stores
 * the tags on the VPC (Vpc.routeTableTags), and the table goes with its VPC.
 */
import { awsError, ErrorCodes, invalidValue } from './errors';
import { filterRendered, ROUTE_TABLE_FILTERS } from './filters';
import type { State } from './state';
import type { Vpc } from './types';

type Json = Record<string, unknown>;

const ROUTE_TABLE_ID = /^rtb-[0-9a-f]{17}$/;

function hexOf(vpc: Vpc): string {
  return vpc.id.slice('vpc-'.length);
}

export function mainRouteTableId(vpc: Vpc): string {
  return `rtb-${hexOf(vpc)}`;
}

export function isRouteTableId(id: string): boolean {
  return ROUTE_TABLE_ID.test(id);
}

/** The VPC whose main route table `id` is, or undefined. */
export function vpcOfRouteTable(s: State, id: string): Vpc | undefined {
  if (!isRouteTableId(id)) return undefined;
  const vpc = s.vpcs.get(`vpc-${id.slice('rtb-'.length)}`);
  return vpc;
}

export function renderRouteTable(s: State, vpc: Vpc): Json {
  const id = mainRouteTableId(vpc);
  const routes: Json[] = [
    {
      DestinationCidrBlock: vpc.cidr,
      GatewayId: 'local',
      Origin: 'CreateRouteTable',
      State: 'active',
    },
  ];
  if (vpc.ipv6Cidr !== undefined) {
    routes.push({
      DestinationIpv6CidrBlock: vpc.ipv6Cidr,
      GatewayId: 'local',
      Origin: 'CreateRouteTable',
      State: 'active',
    });
  }
  return {
    Associations: [
      {
        Main: true,
        RouteTableAssociationId: `rtbassoc-${hexOf(vpc)}`,
        RouteTableId: id,
        AssociationState: { State: 'associated' },
      },
    ],
    PropagatingVgws: [],
    RouteTableId: id,
    Routes: routes,
    Tags: (vpc.routeTableTags ?? []).map((t) => ({ ...t })),
    VpcId: vpc.id,
    OwnerId: s.accountId,
  };
}

export function describeRouteTables(
  s: State,
  ids?: string[],
  filters?: unknown,
): { RouteTables: Json[] } {
  let vpcs = [...s.vpcs.values()];
  if (ids !== undefined && ids.length > 0) {
    vpcs = ids.map((id) => {
      if (typeof id !== 'string') throw invalidValue('RouteTableId must be a string');
      const vpc = vpcOfRouteTable(s, id);
      if (vpc === undefined) {
        throw awsError(ErrorCodes.routeTableNotFound, `The routeTable ID '${id}' does not exist`);
      }
      return vpc;
    });
  }
  return {
    RouteTables: filterRendered(
      vpcs.map((v) => renderRouteTable(s, v)),
      filters,
      ROUTE_TABLE_FILTERS,
    ),
  };
}
