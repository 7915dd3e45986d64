/**
 * Field validators shared by the model's operations. Each throws an AwsError
 * (usually InvalidParameterValue) with a one-line message naming the field.
 */
import { randomBytes } from 'node:crypto';
import { awsError, ErrorCodes, invalidValue, missing } from './errors';
import type { ConnectionTracking, Tag } from './types';

export const MAX_NAME_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 255;

// AWS's VPC security-group name/description charset: a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*
const GROUP_TEXT_CHARSET = /^[a-zA-Z0-9 ._\-:/()#,@[\]+=&;{}!$*]*$/;

/** Validates a security-group name; returns it with trailing spaces trimmed (as AWS does). */
export function checkGroupName(input: unknown): string {
  if (input === undefined || input === null || input === '') throw missing('GroupName');
  if (typeof input !== 'string') throw invalidValue('GroupName must be a string');
  const name = input.replace(/ +$/, '');
  if (name.length === 0) throw missing('GroupName');
  if (name.length > MAX_NAME_LENGTH) {
    throw invalidValue(`Invalid value for GroupName: longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (!GROUP_TEXT_CHARSET.test(name)) {
    throw invalidValue(
      `Invalid value '${name}' for GroupName: characters outside a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*`,
    );
  }
  if (name.toLowerCase().startsWith('sg-')) {
    throw invalidValue(`Invalid value '${name}' for GroupName: names cannot start with 'sg-'`);
  }
  // [U] AWS documents `default` as reserved; we treat it case-insensitively.
  if (name.toLowerCase() === 'default') {
    throw awsError(ErrorCodes.groupReserved, "The security group name 'default' is reserved");
  }
  return name;
}

export function checkGroupDescription(input: unknown): string {
  if (input === undefined || input === null || input === '') throw missing('GroupDescription');
  if (typeof input !== 'string') throw invalidValue('GroupDescription must be a string');
  if (input.length > MAX_DESCRIPTION_LENGTH) {
    throw invalidValue(
      `Invalid value for GroupDescription: longer than ${MAX_DESCRIPTION_LENGTH} characters`,
    );
  }
  if (!GROUP_TEXT_CHARSET.test(input)) {
    throw invalidValue(
      `Invalid value '${input}' for GroupDescription: characters outside a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*`,
    );
  }
  return input;
}

/** C0 controls and DEL: no AWS text field takes them (and a NUL would reach logs and XML). */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

function refuseControls(value: string, field: string): void {
  if (CONTROL_CHARACTERS.test(value)) {
    throw invalidValue(`Invalid value for ${field}: control characters are not allowed`);
  }
}

/** Optional free-text description (rules, ENIs, prefix-list entries): <= 255 characters. */
export function checkOptionalDescription(input: unknown, field: string): string | undefined {
  if (input === undefined || input === null) return undefined;
  if (typeof input !== 'string') throw invalidValue(`${field} must be a string`);
  refuseControls(input, field);
  if (input.length > MAX_DESCRIPTION_LENGTH) {
    throw invalidValue(
      `Invalid value for ${field}: longer than ${MAX_DESCRIPTION_LENGTH} characters`,
    );
  }
  return input;
}

export function checkOptionalName(input: unknown, field: string): string | undefined {
  if (input === undefined || input === null) return undefined;
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_NAME_LENGTH) {
    throw invalidValue(`Invalid value for ${field}: 1..${MAX_NAME_LENGTH} characters`);
  }
  refuseControls(input, field);
  return input;
}

const MAX_TAGS = 50;

/** A tag key: 1..128 characters, not `aws:`-prefixed (reserved), no control characters. */
export function checkTagKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 128) {
    throw invalidValue('Tag keys must be 1..128 characters');
  }
  if (key.toLowerCase().startsWith('aws:')) {
    throw invalidValue(`Tag keys starting with 'aws:' are reserved for AWS use: '${key}'`);
  }
  refuseControls(key, 'tag key');
  return key;
}

/** A tag value: 0..256 characters (absent = empty), no control characters. */
export function checkTagValue(key: string, value: unknown): string {
  const v = value === undefined || value === null ? '' : value;
  if (typeof v !== 'string' || v.length > 256) {
    throw invalidValue(`Tag value for '${key}' must be a string of at most 256 characters`);
  }
  refuseControls(v, `the value of tag '${key}'`);
  return v;
}

export function checkTags(input: unknown): Tag[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw invalidValue('Tags must be a list of {Key, Value}');
  if (input.length > MAX_TAGS) {
    throw awsError(ErrorCodes.tagLimitExceeded, `At most ${MAX_TAGS} tags per resource`);
  }
  const keys = new Set<string>();
  return input.map((tag: unknown) => {
    const t = (tag ?? {}) as { Key?: unknown; Value?: unknown };
    const Key = checkTagKey(t.Key);
    const value = checkTagValue(Key, t.Value);
    if (keys.has(Key)) throw invalidValue(`Duplicate tag key '${Key}'`);
    keys.add(Key);
    return { Key, Value: value };
  });
}

const MAC_SYNTAX = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A unicast MAC in lower-case colon form; multicast (I/G bit) and all-zero are refused. */
export function checkMac(input: unknown): string {
  if (typeof input !== 'string')
    throw invalidValue('MacAddress must be a string like 02:00:00:00:00:01');
  const mac = input.toLowerCase();
  if (!MAC_SYNTAX.test(mac)) throw invalidValue(`Invalid value '${input}' for MacAddress`);
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    throw invalidValue(`Invalid value '${input}' for MacAddress: not a unicast address`);
  }
  if (mac === '00:00:00:00:00:00') throw invalidValue('MacAddress cannot be all zero');
  return mac;
}

/** A random locally administered unicast MAC: 02:xx:xx:xx:xx:xx. */
export function randomMac(): string {
  const bytes = [...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0'));
  return ['02', ...bytes].join(':');
}

const IFNAME_SYNTAX = /^[A-Za-z0-9_.-]{1,15}$/;

/** A Linux interface name: 1..15 characters of [A-Za-z0-9_.-], not `.` or `..`. */
export function checkTapName(input: unknown): string {
  if (input === undefined || input === null || input === '') throw missing('tap');
  if (typeof input !== 'string' || !IFNAME_SYNTAX.test(input) || input === '.' || input === '..') {
    throw invalidValue(
      `Invalid value '${String(input)}' for tap: 1..15 characters of A-Za-z0-9_.-`,
    );
  }
  return input;
}

const NETNS_SYNTAX = /^[A-Za-z0-9_.-]{1,255}$/;

export function checkNetns(input: unknown): string | undefined {
  if (input === undefined || input === null) return undefined;
  if (typeof input !== 'string' || !NETNS_SYNTAX.test(input) || input === '.' || input === '..') {
    throw invalidValue(`Invalid value '${String(input)}' for netns`);
  }
  return input;
}

// A namespace file: absolute, no empty, '.' or '..' segments (CNI_NETNS is /run/netns/x or /proc/PID/ns/net).
const NETNS_PATH_SYNTAX = /^(\/[A-Za-z0-9_.:@-]+)+$/;

export function checkNetnsPath(input: unknown): string | undefined {
  if (input === undefined || input === null) return undefined;
  if (
    typeof input !== 'string' ||
    input.length > 4096 ||
    !NETNS_PATH_SYNTAX.test(input) ||
    input.split('/').some((part) => part === '.' || part === '..')
  ) {
    throw invalidValue(`Invalid value '${String(input)}' for netnsPath: an absolute path`);
  }
  return input;
}

/** sizeof(sockaddr_un.sun_path) - 1: the longest path a unix socket can bind. */
export const MAX_QEMU_SOCKET_PATH = 107;
const QEMU_SOCKET_SYNTAX = /^(\/[A-Za-z0-9_.:@+,=-]+)+$/;

/** A QEMU stream socket's path: absolute, no '.'/'..' segments, at most 107 bytes. */
export function checkQemuSocket(input: unknown): string | undefined {
  if (input === undefined || input === null || input === '') return undefined;
  if (
    typeof input !== 'string' ||
    Buffer.byteLength(input) > MAX_QEMU_SOCKET_PATH ||
    !QEMU_SOCKET_SYNTAX.test(input) ||
    input.split('/').some((part) => part === '.' || part === '..')
  ) {
    throw invalidValue(
      `Invalid value '${String(input)}' for qemuSocket: an absolute path of at most ` +
        `${MAX_QEMU_SOCKET_PATH} bytes (A-Za-z0-9_.:@+,=- between slashes)`,
    );
  }
  return input;
}

/** Who connects on a QEMU socket: 'listen' (eniwall listens, QEMU server=off) or 'connect'. */
export type QemuSocketMode = 'listen' | 'connect';
export function checkQemuSocketMode(input: unknown): QemuSocketMode | undefined {
  if (input === undefined || input === null || input === '') return undefined;
  if (input !== 'listen' && input !== 'connect') {
    throw invalidValue(
      `Invalid value '${String(input)}' for qemuSocketMode: 'listen' (eniwall listens, QEMU ` +
        `joins with server=off) or 'connect' (QEMU listens with server=on, eniwall connects)`,
    );
  }
  return input;
}

/** The name of the TAP's kernel side inside its namespace: the same syntax as a tap name. */
export function checkIfName(input: unknown): string | undefined {
  if (input === undefined || input === null) return undefined;
  if (typeof input !== 'string' || !IFNAME_SYNTAX.test(input) || input === '.' || input === '..') {
    throw invalidValue(
      `Invalid value '${String(input)}' for ifName: 1..15 characters of A-Za-z0-9_.-`,
    );
  }
  return input;
}

export function checkBoolean(input: unknown, field: string, fallback: boolean): boolean {
  if (input === undefined || input === null) return fallback;
  if (typeof input !== 'boolean')
    throw invalidValue(`Invalid value '${String(input)}' for ${field}: true or false`);
  return input;
}

export const DEFAULT_CONNECTION_TRACKING: Readonly<ConnectionTracking> = Object.freeze({
  tcpEstablishedTimeout: 432000,
  udpStreamTimeout: 180,
  udpTimeout: 30,
});

const TIMEOUT_RANGES: Record<keyof ConnectionTracking, [number, number, string]> = {
  tcpEstablishedTimeout: [60, 432000, 'TcpEstablishedTimeout'],
  udpStreamTimeout: [60, 180, 'UdpStreamTimeout'],
  udpTimeout: [30, 60, 'UdpTimeout'],
};

/** Merges a partial timeout change onto `base`, each value checked against the AWS range. */
export function checkConnectionTracking(
  base: ConnectionTracking,
  change: unknown,
): ConnectionTracking {
  if (change === undefined || change === null) return { ...base };
  if (typeof change !== 'object') throw invalidValue('connectionTracking must be an object');
  const next: ConnectionTracking = { ...base };
  for (const [key, value] of Object.entries(change as Record<string, unknown>)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(TIMEOUT_RANGES, key)) {
      throw invalidValue(`Unknown connection tracking setting '${key}'`);
    }
    const range = TIMEOUT_RANGES[key as keyof ConnectionTracking];
    const [min, max, awsName] = range;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalidValue(
        `Invalid value '${String(value)}' for ${awsName}: must be ${min}..${max} seconds`,
      );
    }
    next[key as keyof ConnectionTracking] = value;
  }
  return next;
}
