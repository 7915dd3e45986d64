/**
 * What one CNI invocation carries: the CNI_* environment and the network
 * configuration on stdin, validated into a CniRequest. Invalid variables give
 * code 4 (the message names the variable), an invalid configuration code 7,
 * stdin that is not JSON code 6, an unsupported cniVersion code 1.
 *
 * The network configuration (one plugin of a conflist, as the runtime passes it):
 *
 *   { "cniVersion": "1.1.0", "name": "pods", "type": "eniwall",
 *     "subnetId": "subnet-...",           // required: the VPC subnet the ENIs live in
 *     "groups": ["web"],                  // default groups (names or sg- ids); absent: the VPC's default group
 *     "socket": "/run/eniwall/eniwall.sock", // optional, the daemon's socket
 *     "timeoutSeconds": 30,               // optional, per daemon call
 *     "ipam": { "type": "host-local", ... }, // optional: chained IPAM gives the address
 *     "capabilities": { "securityGroups": true } }
 *
 * Per-container groups replace the default ones; the first present wins:
 * runtimeConfig.securityGroups (capability "securityGroups"), then
 * args.cni.securityGroups (CNI conventions' "args"), then CNI_ARGS
 * `ENIWALL_GROUPS=web,db` (comma-separated; ';' separates CNI_ARGS pairs).
 * Unknown CNI_ARGS keys are ignored (Kubernetes passes K8S_POD_* and IgnoreUnknown).
 */
import { CniCodes, CniError } from './errors';

export const SUPPORTED_VERSIONS = ['1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

/** One (containerID, ifname) a GC keeps (cni.dev/valid-attachments). */
export interface Attachment {
  containerId: string;
  ifName: string;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  subnetId: string;
  groups: string[] | undefined; // the groups this container's ENI gets (undefined: VPC default)
  socket: string | undefined;
  timeoutMs: number;
  ipam: { type: string } | undefined;
  prevResult: Record<string, unknown> | undefined;
  validAttachments: Attachment[] | undefined; // GC only
}

export interface CniRequest {
  command: CniCommand;
  containerId: string | undefined;
  netns: string | undefined; // CNI_NETNS: a path
  ifName: string | undefined;
  args: Map<string, string>; // CNI_ARGS
  path: string[]; // CNI_PATH
  /** The raw stdin, handed unchanged to a chained IPAM plugin. */
  stdin: string;
  conf: NetConf;
}

const DEFAULT_TIMEOUT_MS = 30000;
const IFNAME_SYNTAX = /^[A-Za-z0-9_.-]{1,15}$/;
// Container ids: the spec's syntax (alphanumerics, then also '_', '.', '-').
const CONTAINER_ID_SYNTAX = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

type Env = Record<string, string | undefined>;

function envError(name: string, why: string): CniError {
  return new CniError(CniCodes.invalidEnvironment, `${name} ${why}`);
}

function configError(msg: string): CniError {
  return new CniError(CniCodes.invalidConfig, msg);
}

export function parseCommand(env: Env): CniCommand {
  const raw = env['CNI_COMMAND'];
  if (raw === undefined || raw === '') throw envError('CNI_COMMAND', 'is not set');
  if (!(COMMANDS as readonly string[]).includes(raw)) {
    throw envError('CNI_COMMAND', `'${raw}' is not one of ${COMMANDS.join(', ')}`);
  }
  return raw as CniCommand;
}

/** CNI_ARGS: `K=V;K=V` (a pair without '=' is invalid). */
export function parseCniArgs(raw: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === undefined || raw === '') return out;
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw envError('CNI_ARGS', `has '${pair}', not KEY=VALUE`);
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

/** Parses stdin as a JSON object (code 6 when it is not). */
export function parseJsonObject(stdin: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(
      CniCodes.decodeFailure,
      'the network configuration on stdin is not JSON',
      err instanceof Error ? err.message : String(err),
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CniError(CniCodes.decodeFailure, 'the network configuration is not a JSON object');
  }
  return parsed as Record<string, unknown>;
}

export function checkVersion(raw: unknown): string {
  if (typeof raw !== 'string' || raw === '') throw configError('cniVersion is missing');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(raw)) {
    throw new CniError(
      CniCodes.incompatibleVersion,
      `cniVersion ${raw} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  return raw;
}

function groupList(raw: unknown, field: string): string[] {
  if (!Array.isArray(raw) || raw.some((g) => typeof g !== 'string' || g === '')) {
    throw configError(`${field} must be a list of security group names or ids`);
  }
  if (raw.length === 0) throw configError(`${field} is empty`);
  return raw as string[];
}

function objectField(conf: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = conf[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw configError(`${key} must be an object`);
  return v as Record<string, unknown>;
}

/** The per-container groups (see the file comment), else the configured ones. */
function containerGroups(
  conf: Record<string, unknown>,
  args: Map<string, string>,
): string[] | undefined {
  const runtime = objectField(conf, 'runtimeConfig')['securityGroups'];
  if (runtime !== undefined) return groupList(runtime, 'runtimeConfig.securityGroups');
  const cniArgs = objectField(objectField(conf, 'args'), 'cni')['securityGroups'];
  if (cniArgs !== undefined) return groupList(cniArgs, 'args.cni.securityGroups');
  const fromEnv = args.get('ENIWALL_GROUPS');
  if (fromEnv !== undefined) {
    const list = fromEnv.split(',').filter((g) => g !== '');
    if (list.length === 0) throw envError('CNI_ARGS', 'has an empty ENIWALL_GROUPS');
    return list;
  }
  if (conf['groups'] === undefined) return undefined;
  return groupList(conf['groups'], 'groups');
}

function validAttachments(conf: Record<string, unknown>): Attachment[] {
  const raw = conf['cni.dev/valid-attachments'];
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw configError('cni.dev/valid-attachments must be a list');
  return raw.map((a: unknown) => {
    const o = (typeof a === 'object' && a !== null ? a : {}) as Record<string, unknown>;
    if (typeof o['containerID'] !== 'string' || typeof o['ifname'] !== 'string') {
      throw configError('cni.dev/valid-attachments entries need containerID and ifname');
    }
    return { containerId: o['containerID'], ifName: o['ifname'] };
  });
}

function parseConf(
  command: CniCommand,
  conf: Record<string, unknown>,
  args: Map<string, string>,
): NetConf {
  const cniVersion = checkVersion(conf['cniVersion']);
  const name = conf['name'];
  if (typeof name !== 'string' || name === '') throw configError('name is missing');
  const subnetId = conf['subnetId'];
  if (typeof subnetId !== 'string' || !/^subnet-[0-9a-f]+$/.test(subnetId)) {
    throw configError(`subnetId must name the VPC subnet (subnet-...), not ${String(subnetId)}`);
  }
  const socket = conf['socket'];
  if (socket !== undefined && (typeof socket !== 'string' || !socket.startsWith('/'))) {
    throw configError('socket must be an absolute path');
  }
  const timeout = conf['timeoutSeconds'];
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0) || timeout > 3600)) {
    throw configError('timeoutSeconds must be a number of seconds (0 < n <= 3600)');
  }
  let ipam: { type: string } | undefined;
  if (conf['ipam'] !== undefined) {
    const type = objectField(conf, 'ipam')['type'];
    // An empty ipam section (some generators write "ipam": {}) means none.
    if (type !== undefined) {
      if (typeof type !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(type)) {
        throw configError('ipam.type must name an IPAM plugin');
      }
      ipam = { type };
    }
  }
  const prev = conf['prevResult'];
  if (prev !== undefined && (typeof prev !== 'object' || prev === null || Array.isArray(prev))) {
    throw configError('prevResult must be an object');
  }
  return {
    cniVersion,
    name,
    subnetId,
    groups: command === 'ADD' ? containerGroups(conf, args) : undefined,
    socket,
    timeoutMs: timeout === undefined ? DEFAULT_TIMEOUT_MS : Math.round(timeout * 1000),
    ipam,
    prevResult: prev as Record<string, unknown> | undefined,
    validAttachments: command === 'GC' ? validAttachments(conf) : undefined,
  };
}

function required(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw envError(name, 'is not set');
  return v;
}

/** Everything but VERSION (which needs no network configuration). */
export function parseRequest(command: CniCommand, env: Env, stdin: string): CniRequest {
  const raw = parseJsonObject(stdin);
  // Version first: an old runtime's configuration may not parse as ours at all.
  checkVersion(raw['cniVersion']);
  const args = parseCniArgs(env['CNI_ARGS']);
  const perAttachment = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  let containerId: string | undefined;
  let ifName: string | undefined;
  let netns: string | undefined;
  if (perAttachment) {
    containerId = required(env, 'CNI_CONTAINERID');
    if (!CONTAINER_ID_SYNTAX.test(containerId)) {
      throw envError('CNI_CONTAINERID', `'${containerId}' has characters a container id cannot`);
    }
    ifName = required(env, 'CNI_IFNAME');
    if (!IFNAME_SYNTAX.test(ifName) || ifName === '.' || ifName === '..') {
      throw envError('CNI_IFNAME', `'${ifName}' is not an interface name (1..15 of A-Za-z0-9_.-)`);
    }
    // DEL may come after the namespace is gone: CNI_NETNS may then be empty.
    netns = command === 'DEL' ? env['CNI_NETNS'] || undefined : required(env, 'CNI_NETNS');
    if (netns !== undefined && !netns.startsWith('/')) {
      throw envError('CNI_NETNS', `'${netns}' is not an absolute path`);
    }
  }
  const path = (env['CNI_PATH'] ?? '').split(':').filter((p) => p !== '');
  return {
    command,
    containerId,
    netns,
    ifName,
    args,
    path,
    stdin,
    conf: parseConf(command, raw, args),
  };
}
