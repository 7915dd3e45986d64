/**
 * Addresses security groups never filter (aws-security-groups.md 3.4):
 * Amazon DNS, instance metadata and time sync at their link-local addresses.
 * The per-VPC DNS (VPC base + 2) and the subnet routers (base + 1) live in the
 * VPC and subnet records of the table instead of these lists.
 */
export const EXEMPT_IPV4: readonly string[] = [
  '169.254.169.253', // Amazon DNS
  '169.254.169.254', // instance metadata (IMDS)
  '169.254.169.123', // Amazon Time Sync
];

export const EXEMPT_IPV6: readonly string[] = ['fd00:ec2::253', 'fd00:ec2::254', 'fd00:ec2::123'];

/** VPC base + n and subnet base + n: the reserved addresses that are exempt. */
export const ROUTER_OFFSET = 1;
export const DNS_OFFSET = 2;
