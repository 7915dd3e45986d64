/**
 * The eniwall CNI plugin (bin/eniwall-cni; CNI spec 1.0/1.1). A thin client
 * of the daemon: ADD asks it for an ENI whose TAP's kernel side is moved into
 * CNI_NETNS as CNI_IFNAME, addressed from the configured subnet (allocated by
 * eniwall, or by a chained IPAM plugin) and in the container's groups. The
 * daemon answers only once the dataplane enforces those groups, so the
 * container's first packet is already filtered.
 *
 * No local state: an attachment's ENI carries tags (network name, container
 * id, interface name), and DEL, CHECK and GC find it by them. DEL succeeds
 * when nothing is left (also when the namespace is gone: closing the TAP is
 * the daemon's, not the namespace's, business). A daemon that cannot be
 * reached, or does not answer within the timeout, gives code 11 ("try again
 * later"); STATUS then gives code 50.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';

import { ApiError, EniwallClient } from '../api/client';
import { ProtocolErrorCode, type ApiMethod, type ParamsOf, type ResultOf } from '../api/protocol';
import { parseCidr, subnetRouterAddress } from '../model/cidr';
import type { Eni, Tag } from '../model/types';
import {
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
  parseCommand,
  parseJsonObject,
  parseRequest,
  type CniRequest,
} from './config';
import { CniCodes, CniError } from './errors';
import { execIpam, firstIpv4 } from './ipam';

const execFileAsync = promisify(execFile);

export const TAG_NETWORK = 'eniwall:cni-network';
export const TAG_CONTAINER = 'eniwall:cni-container-id';
export const TAG_IFNAME = 'eniwall:cni-ifname';
export const TAG_NETNS = 'eniwall:cni-netns';
export const TAG_POD = 'eniwall:cni-pod';

/** Connecting to a live daemon's unix socket is immediate; this only bounds a wedged one. */
const CONNECT_TIMEOUT_MS = 2000;
/** STATUS is a readiness probe: it must answer fast. */
const STATUS_TIMEOUT_MS = 2000;

function tryAgain(msg: string, details?: string): CniError {
  return new CniError(CniCodes.tryAgainLater, msg, details);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(tryAgain(`the eniwall daemon did not answer ${what} within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** One connection to the daemon, every call bounded by the configured timeout. */
class Daemon {
  private constructor(
    private readonly client: EniwallClient,
    private readonly timeoutMs: number,
  ) {}

  static async connect(socket: string | undefined, timeoutMs: number): Promise<Daemon> {
    try {
      const client = await withTimeout(
        EniwallClient.connect(socket),
        CONNECT_TIMEOUT_MS,
        'a connect',
      );
      return new Daemon(client, timeoutMs);
    } catch (err) {
      if (err instanceof CniError) throw err;
      throw tryAgain(
        'the eniwall daemon is not reachable',
        err instanceof Error ? err.message : String(err),
      );
    }
  }

  async call<M extends ApiMethod>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    try {
      return await withTimeout(this.client.call(method, params), this.timeoutMs, method);
    } catch (err) {
      throw daemonError(err);
    }
  }

  close(): void {
    this.client.close();
  }
}

/** The daemon's AWS error as a CNI error: config mistakes 7, transport 11, the rest 100. */
function daemonError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof ApiError) {
    if (err.code === ProtocolErrorCode.Unavailable) {
      return tryAgain('lost the connection to the eniwall daemon', err.message);
    }
    // A subnet or group the configuration names that the daemon does not know.
    if (/^InvalidSubnetID\.|^InvalidGroup\.|^InvalidSecurityGroupID\./.test(err.code)) {
      return new CniError(CniCodes.invalidConfig, err.message, err.code);
    }
    return new CniError(CniCodes.daemonRefused, `eniwall: ${err.message}`, err.code);
  }
  return new CniError(CniCodes.daemonRefused, err instanceof Error ? err.message : String(err));
}

function tagOf(eni: Eni, key: string): string | undefined {
  return eni.tags.find((t) => t.Key === key)?.Value;
}

/** The ENIs of this network (all of them, or one attachment's). */
function attachmentEnis(
  enis: readonly Eni[],
  network: string,
  containerId?: string,
  ifName?: string,
): Eni[] {
  return enis.filter(
    (e) =>
      tagOf(e, TAG_NETWORK) === network &&
      (containerId === undefined || tagOf(e, TAG_CONTAINER) === containerId) &&
      (ifName === undefined || tagOf(e, TAG_IFNAME) === ifName),
  );
}

/**
 * The TAP's name in the daemon's namespace while it is created (it is renamed
 * to CNI_IFNAME inside the container): `ewc` + 12 hex of a hash of the
 * attachment, so it is stable for one attachment and <= 15 characters.
 */
export function tapNameFor(network: string, containerId: string, ifName: string): string {
  const h = createHash('sha256').update(`${network}\0${containerId}\0${ifName}`).digest('hex');
  return `ewc${h.slice(0, 12)}`;
}

interface SuccessResult {
  cniVersion: string;
  interfaces: { name: string; mac: string; sandbox: string }[];
  ips: { address: string; gateway: string; interface: number }[];
  routes: { dst: string; gw: string }[];
  dns: Record<string, unknown>;
}

async function resultFor(
  daemon: Daemon,
  req: CniRequest,
  eni: Eni,
  dns: Record<string, unknown>,
): Promise<SuccessResult> {
  const [subnet] = await daemon.call('subnet.describe', { ids: [eni.subnetId] });
  const prefix = subnet === undefined ? undefined : parseCidr(subnet.cidr)?.prefix;
  if (subnet === undefined || prefix === undefined) {
    throw new CniError(CniCodes.daemonRefused, `subnet ${eni.subnetId} of ${eni.id} not found`);
  }
  const gateway = subnetRouterAddress(subnet.cidr);
  return {
    cniVersion: req.conf.cniVersion,
    interfaces: [
      { name: eni.ifName ?? req.ifName ?? '', mac: eni.mac, sandbox: eni.netnsPath ?? '' },
    ],
    ips: [{ address: `${eni.privateIp}/${prefix}`, gateway, interface: 0 }],
    routes: [{ dst: '0.0.0.0/0', gw: gateway }],
    dns,
  };
}

function ipamDns(result: Record<string, unknown> | undefined): Record<string, unknown> {
  const dns = result?.['dns'];
  return typeof dns === 'object' && dns !== null && !Array.isArray(dns)
    ? (dns as Record<string, unknown>)
    : {};
}

async function cmdAdd(daemon: Daemon, req: CniRequest): Promise<SuccessResult> {
  const { conf } = req;
  const containerId = req.containerId ?? '';
  const ifName = req.ifName ?? '';
  const netns = req.netns ?? '';
  if (!fs.existsSync(netns))
    throw new CniError(CniCodes.invalidEnvironment, `CNI_NETNS ${netns} does not exist`);

  const existing = attachmentEnis(
    await daemon.call('eni.list', {}),
    conf.name,
    containerId,
    ifName,
  );
  if (existing.length > 0) {
    const eni = existing[0] as Eni;
    // ADD repeated for the same attachment (a runtime retrying): the same answer.
    if (eni.netnsPath === netns) return resultFor(daemon, req, eni, {});
    throw new CniError(
      CniCodes.attachmentConflict,
      `container ${containerId} already has ${ifName} on network ${conf.name} (${eni.id}, in ${eni.netnsPath ?? '?'})`,
    );
  }

  let ipamResult: Record<string, unknown> | undefined;
  let privateIp: string | undefined;
  if (conf.ipam !== undefined) {
    ipamResult = await execIpam({
      type: conf.ipam.type,
      command: 'ADD',
      cniPath: req.path,
      stdin: req.stdin,
    });
    try {
      privateIp = firstIpv4(ipamResult);
    } catch (err) {
      await ipamQuietly(req, 'DEL'); // it may hold an IPv6 address we cannot use
      throw err;
    }
  }
  const tags: Tag[] = [
    { Key: TAG_NETWORK, Value: conf.name },
    { Key: TAG_CONTAINER, Value: containerId },
    { Key: TAG_IFNAME, Value: ifName },
    { Key: TAG_NETNS, Value: netns.slice(0, 256) }, // informational; the ENI keeps the whole path
  ];
  const podNs = req.args.get('K8S_POD_NAMESPACE');
  const pod = req.args.get('K8S_POD_NAME');
  if (podNs !== undefined && pod !== undefined)
    tags.push({ Key: TAG_POD, Value: `${podNs}/${pod}`.slice(0, 256) }); // a tag value's limit
  let eni: Eni;
  try {
    eni = await daemon.call('eni.create', {
      tap: tapNameFor(conf.name, containerId, ifName),
      subnetId: conf.subnetId,
      ...(conf.groups === undefined ? {} : { groups: conf.groups }),
      ...(privateIp === undefined ? {} : { privateIp }),
      netnsPath: netns,
      ifName,
      description: `CNI ${conf.name} ${containerId.slice(0, 12)} ${ifName}`,
      tags,
    });
  } catch (err) {
    // The address is not used: give it back (the runtime's DEL would too, but need not come).
    if (conf.ipam !== undefined) await ipamQuietly(req, 'DEL');
    throw err;
  }
  return resultFor(daemon, req, eni, ipamDns(ipamResult));
}

async function ipamQuietly(
  req: CniRequest,
  command: 'DEL' | 'GC',
  env?: Record<string, string>,
): Promise<void> {
  if (req.conf.ipam === undefined) return;
  try {
    await execIpam({
      type: req.conf.ipam.type,
      command,
      cniPath: req.path,
      stdin: req.stdin,
      ...(env === undefined ? {} : { env }),
    });
  } catch {
    // best effort: the error that made us clean up is the one to report
  }
}

async function cmdDel(daemon: Daemon, req: CniRequest): Promise<void> {
  const enis = attachmentEnis(
    await daemon.call('eni.list', {}),
    req.conf.name,
    req.containerId,
    req.ifName,
  );
  for (const eni of enis) await deleteQuietlyIfGone(daemon, eni.id);
  // The IPAM plugin's own DEL is idempotent too (host-local: nothing to free is fine).
  if (req.conf.ipam !== undefined) {
    await execIpam({
      type: req.conf.ipam.type,
      command: 'DEL',
      cniPath: req.path,
      stdin: req.stdin,
    });
  }
}

/** eni.delete, where an ENI deleted meanwhile (a concurrent DEL or GC) counts as done. */
async function deleteQuietlyIfGone(daemon: Daemon, id: string): Promise<void> {
  try {
    await daemon.call('eni.delete', { id });
  } catch (err) {
    if (err instanceof CniError && err.details === 'InvalidNetworkInterfaceID.NotFound') return;
    throw err;
  }
}

interface IpAddrJson {
  ifname?: string;
  address?: string;
  operstate?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

async function cmdCheck(daemon: Daemon, req: CniRequest): Promise<void> {
  const ifName = req.ifName ?? '';
  const netns = req.netns ?? '';
  const [eni] = attachmentEnis(
    await daemon.call('eni.list', {}),
    req.conf.name,
    req.containerId,
    ifName,
  );
  if (eni === undefined) {
    throw new CniError(
      CniCodes.attachmentNotFound,
      `no eniwall ENI for container ${req.containerId ?? ''} ${ifName} on network ${req.conf.name}`,
    );
  }
  const mismatch = (msg: string, details?: string) =>
    new CniError(CniCodes.interfaceMismatch, msg, details);
  if (eni.netnsPath !== netns)
    throw mismatch(`${eni.id} is wired into ${eni.netnsPath ?? '?'}, not ${netns}`);
  let links: IpAddrJson[];
  try {
    const { stdout } = await execFileAsync(
      'nsenter',
      [`--net=${netns}`, 'ip', '-j', 'addr', 'show', 'dev', ifName],
      {
        encoding: 'utf8',
        timeout: 5000,
      },
    );
    links = JSON.parse(stdout) as IpAddrJson[];
  } catch (err) {
    throw mismatch(
      `${ifName} is missing in ${netns}`,
      err instanceof Error ? err.message : String(err),
    );
  }
  const link = links[0];
  if (link?.address !== eni.mac)
    throw mismatch(`${ifName} in ${netns} has MAC ${link?.address ?? '?'}, ${eni.id} ${eni.mac}`);
  if (!(link.addr_info ?? []).some((a) => a.local === eni.privateIp)) {
    throw mismatch(`${ifName} in ${netns} lacks ${eni.id}'s address ${eni.privateIp}`);
  }
  // What the runtime was told at ADD must still be true.
  const prevIps = Array.isArray(req.conf.prevResult?.['ips'])
    ? (req.conf.prevResult['ips'] as { address?: unknown }[])
    : [];
  for (const ip of prevIps) {
    const addr = typeof ip.address === 'string' ? ip.address.split('/')[0] : undefined;
    if (addr !== eni.privateIp)
      throw mismatch(`prevResult names ${String(ip.address)}, ${eni.id} has ${eni.privateIp}`);
  }
  if (req.conf.ipam !== undefined) {
    await execIpam({
      type: req.conf.ipam.type,
      command: 'CHECK',
      cniPath: req.path,
      stdin: req.stdin,
    });
  }
}

async function cmdGc(daemon: Daemon, req: CniRequest): Promise<void> {
  const keep = new Set(
    (req.conf.validAttachments ?? []).map((a) => `${a.containerId}\0${a.ifName}`),
  );
  for (const eni of attachmentEnis(await daemon.call('eni.list', {}), req.conf.name)) {
    const containerId = tagOf(eni, TAG_CONTAINER) ?? '';
    const ifName = tagOf(eni, TAG_IFNAME) ?? '';
    if (keep.has(`${containerId}\0${ifName}`)) continue;
    await deleteQuietlyIfGone(daemon, eni.id);
    // Its IPAM reservation too, as that attachment's DEL would (host-local keys by container id).
    await ipamQuietly(req, 'DEL', {
      CNI_CONTAINERID: containerId,
      CNI_IFNAME: ifName,
      CNI_NETNS: '',
    });
  }
  // An IPAM plugin that knows GC (host-local >= 1.5) also cleans what it holds for no ENI.
  if (req.conf.cniVersion === '1.1.0') await ipamQuietly(req, 'GC');
}

async function cmdStatus(req: CniRequest): Promise<void> {
  try {
    const daemon = await Daemon.connect(req.conf.socket, STATUS_TIMEOUT_MS);
    try {
      await daemon.call('status', {});
    } finally {
      daemon.close();
    }
  } catch (err) {
    const e = err instanceof CniError ? err : daemonError(err);
    throw new CniError(CniCodes.notAvailable, `eniwall is not available: ${e.message}`, e.details);
  }
}

export interface Outcome {
  exitCode: number;
  stdout: string;
}

/** Runs one invocation; never throws (errors become the spec's error JSON). */
export async function run(
  env: Record<string, string | undefined>,
  stdin: string,
): Promise<Outcome> {
  let version = LATEST_VERSION;
  try {
    const command = parseCommand(env);
    if (command === 'VERSION') {
      // stdin may be empty or {"cniVersion": ...}: answer in the runtime's version when we speak it.
      const asked = stdin.trim() === '' ? undefined : parseJsonObject(stdin)['cniVersion'];
      if (typeof asked === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(asked))
        version = asked;
      return {
        exitCode: 0,
        stdout: JSON.stringify({ cniVersion: version, supportedVersions: SUPPORTED_VERSIONS }),
      };
    }
    const req = parseRequest(command, env, stdin);
    version = req.conf.cniVersion;
    if (command === 'STATUS') {
      await cmdStatus(req);
      return { exitCode: 0, stdout: '' };
    }
    const daemon = await Daemon.connect(req.conf.socket, req.conf.timeoutMs);
    try {
      switch (command) {
        case 'ADD':
          return { exitCode: 0, stdout: JSON.stringify(await cmdAdd(daemon, req)) };
        case 'DEL':
          await cmdDel(daemon, req);
          break;
        case 'CHECK':
          await cmdCheck(daemon, req);
          break;
        case 'GC':
          await cmdGc(daemon, req);
          break;
      }
    } finally {
      daemon.close();
    }
    return { exitCode: 0, stdout: '' };
  } catch (err) {
    const e =
      err instanceof CniError
        ? err
        : new CniError(CniCodes.daemonRefused, err instanceof Error ? err.message : String(err));
    return { exitCode: 1, stdout: JSON.stringify(e.toJSON(version)) };
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => (data += c));
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

/** The launcher's entry: stdin and env in, result or error JSON out, exit. */
export async function main(): Promise<void> {
  let stdin = '';
  try {
    stdin = await readStdin();
  } catch (err) {
    const e = new CniError(
      CniCodes.ioFailure,
      'cannot read stdin',
      err instanceof Error ? err.message : String(err),
    );
    process.stdout.write(`${JSON.stringify(e.toJSON(LATEST_VERSION))}\n`);
    process.exit(1);
  }
  const outcome = await run(process.env, stdin);
  if (outcome.stdout !== '') process.stdout.write(`${outcome.stdout}\n`);
  // Exit now: a wedged daemon connection must not keep the runtime waiting.
  process.exitCode = outcome.exitCode;
  process.stdout.write('', () => process.exit(outcome.exitCode));
}
