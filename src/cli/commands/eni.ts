/** `eniwall eni ...`: network interfaces and their TAP ports. */
import { Command } from 'commander';
import type { ConnectionTracking } from '../../model/types';
import { call, example } from '../context';
import { UsageError } from '../fatal';
import { dash, printJson, printLine, printTable } from '../output';
import {
  collectFilter,
  FILTER_HELP,
  type FilterOption,
  parseInteger,
  parseList,
  parseOnOff,
} from '../parse';

interface CreateOptions {
  tap?: string;
  qemuSocket?: string;
  qemuSocketMode?: string;
  ip?: string;
  description?: string;
  subnet?: string;
  secondaryIp?: string[];
  ipv6?: string[];
  mac?: string;
  groups?: string;
  netns?: string;
  vhostUser?: string;
}

interface ModifyOptions {
  groups?: string;
  description?: string;
  sourceDestCheck?: string;
  tcpEstablishedTimeout?: string;
  udpStreamTimeout?: string;
  udpTimeout?: string;
}

export function eniCommand(): Command {
  const eni = new Command('eni').description('network interfaces (one TAP each)');

  example(
    eni
      .command('create')
      .description(
        'create an ENI and its port: a TAP, a QEMU socket or a vhost-user socket (without one: unbound, see `eni attach`); prints its id',
      )
      .option('--tap <name>', 'TAP device name (<= 15 characters); absent: no port yet')
      .option(
        '--qemu-socket <path>',
        'instead of --tap: listen on this unix socket for a QEMU -netdev stream guest (needs daemon --io epoll --offload off --workers 1)',
      )
      .option(
        '--qemu-socket-mode <listen|connect>',
        'listen (default): eniwall listens, QEMU joins with server=off; connect: QEMU listens (server=on) and eniwall connects, again after a guest or daemon restart',
      )
      .option('--ip <addr>', 'primary private IPv4 address (default: the lowest free one)')
      .option('--description <text>', 'ENI description')
      .option('--subnet <subnet>', 'subnet id (default: the default subnet)')
      .option('--secondary-ip <addr...>', 'secondary private IPv4 addresses')
      .option('--ipv6 <addr...>', 'IPv6 addresses')
      .option('--mac <mac>', 'MAC address (default: generated, 02:...)')
      .option('--groups <g1,g2>', 'security groups, ids or names (default: the VPC default group)')
      .option('--netns <ns>', "move the TAP's kernel side into this existing network namespace")
      .option(
        '--vhost-user <path>',
        'instead of --tap: serve a vhost-user socket at this absolute path (server mode; ' +
          'DPDK virtio-user or QEMU connects; needs --io epoll, one worker, --offload off)',
      ),
    'eniwall eni create --tap ew-a --ip 172.31.0.10 --groups web --netns vm-a',
    'eniwall eni create --qemu-socket /run/eniwall/vm-a.sock --ip 172.31.0.11 --groups web',
    'eniwall eni create --qemu-socket /run/vm-c.sock --qemu-socket-mode connect --groups web',
    'eniwall eni create --vhost-user /run/eniwall/vm-b.sock --groups web',
    'eniwall eni create --groups web',
  ).action(async (o: CreateOptions, cmd: Command) => {
    const created = await call(cmd, 'eni.create', {
      tap: o.tap,
      qemuSocket: o.qemuSocket,
      qemuSocketMode: o.qemuSocketMode,
      privateIp: o.ip,
      subnetId: o.subnet,
      secondaryIps: o.secondaryIp,
      ipv6Addresses: o.ipv6,
      mac: o.mac,
      groups: o.groups === undefined ? undefined : parseList(o.groups),
      netns: o.netns,
      vhostUser: o.vhostUser,
      description: o.description,
    });
    printLine(created.id);
  });

  example(
    eni
      .command('attach')
      .description(
        'bind an ENI to a TAP, a QEMU socket or a vhost-user socket (one of them); a bound ENI needs --replace (or `eni detach` first)',
      )
      .argument('<eni>', 'ENI id')
      .option('--tap <name>', 'TAP device name (<= 15 characters)')
      .option('--netns <ns>', "move the TAP's kernel side into this existing network namespace")
      .option('--qemu-socket <path>', 'instead of --tap: a unix socket for a QEMU -netdev stream')
      .option('--vhost-user <path>', 'instead of --tap: a vhost-user socket eniwall serves')
      .option(
        '--replace',
        'the ENI is bound: its new port replaces the old one in one change (the old stays if the new cannot open)',
      )
      .option('--qemu-socket-mode <listen|connect>', 'as for eni create (default listen)'),
    'eniwall eni attach eni-0123456789abcdef0 --tap ew-a --netns vm-a',
    'eniwall eni attach eni-0123456789abcdef0 --qemu-socket /run/eniwall/vm-a.sock',
    'eniwall eni attach eni-0123456789abcdef0 --vhost-user /run/eniwall/vm-a.vhost --replace',
  ).action(
    async (
      id: string,
      o: {
        tap?: string;
        netns?: string;
        qemuSocket?: string;
        vhostUser?: string;
        replace?: boolean;
        qemuSocketMode?: string;
      },
      cmd: Command,
    ) => {
      const kinds = [o.tap, o.qemuSocket, o.vhostUser].filter((x) => x !== undefined).length;
      if (kinds !== 1)
        throw new UsageError(
          'eni attach needs exactly one of --tap, --qemu-socket and --vhost-user',
        );
      await call(cmd, 'eni.attach', {
        id,
        tap: o.tap,
        netns: o.netns,
        qemuSocket: o.qemuSocket,
        vhostUser: o.vhostUser,
        ...(o.replace === true ? { replace: true } : {}),
        qemuSocketMode: o.qemuSocketMode,
      });
    },
  );

  example(
    eni
      .command('detach')
      .description(
        'unbind an ENI from its port: the TAP is deleted, a socket file removed, its connections forgotten; the ENI keeps its addresses, MAC and groups',
      )
      .argument('<eni>', 'ENI id'),
    'eniwall eni detach eni-0123456789abcdef0',
  ).action(async (id: string, _o: unknown, cmd: Command) => {
    await call(cmd, 'eni.detach', { id });
  });

  example(
    eni
      .command('modify')
      .description(
        'change groups (replaces the set), source/dest check, idle timeouts, description',
      )
      .argument('<eni>', 'ENI id')
      .option('--groups <g1,g2>', 'the new set of security groups')
      .option('--description <text>', "the ENI's description ('' removes it)")
      .option('--source-dest-check <on|off>', 'drop frames not from the ENI’s own MAC/IP')
      .option('--tcp-established-timeout <s>', 'idle timeout of established TCP, 60..432000')
      .option('--udp-stream-timeout <s>', 'idle timeout of UDP streams, 60..180')
      .option('--udp-timeout <s>', 'idle timeout of other UDP flows, 30..60'),
    'eniwall eni modify eni-0123456789abcdef0 --groups web,ssh --udp-timeout 60',
  ).action(async (id: string, o: ModifyOptions, cmd: Command) => {
    const tracking: Partial<ConnectionTracking> = {};
    if (o.tcpEstablishedTimeout !== undefined) {
      tracking.tcpEstablishedTimeout = parseInteger(
        o.tcpEstablishedTimeout,
        '--tcp-established-timeout',
      );
    }
    if (o.udpStreamTimeout !== undefined) {
      tracking.udpStreamTimeout = parseInteger(o.udpStreamTimeout, '--udp-stream-timeout');
    }
    if (o.udpTimeout !== undefined)
      tracking.udpTimeout = parseInteger(o.udpTimeout, '--udp-timeout');
    await call(cmd, 'eni.modify', {
      id,
      groups: o.groups === undefined ? undefined : parseList(o.groups),
      sourceDestCheck:
        o.sourceDestCheck === undefined
          ? undefined
          : parseOnOff(o.sourceDestCheck, '--source-dest-check'),
      connectionTracking: Object.keys(tracking).length ? tracking : undefined,
      description: o.description,
    });
  });

  example(
    eni
      .command('delete')
      .description('delete an ENI and close its TAP')
      .argument('<eni>', 'ENI id'),
    'eniwall eni delete eni-0123456789abcdef0',
  ).action(async (id: string, _o: unknown, cmd: Command) => {
    await call(cmd, 'eni.delete', { id });
  });

  example(
    eni
      .command('describe')
      .description('list ENIs')
      .argument('[eni...]', 'ENI ids (default: all)')
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option('--json', 'the `aws ec2 describe-network-interfaces` JSON shape'),
    'eniwall eni describe --json',
    'eniwall eni describe --filter Name=group-id,Values=sg-0123456789abcdef0',
  ).action(async (ids: string[], o: { json?: boolean; filter?: FilterOption[] }, cmd: Command) => {
    const params = { ids: ids.length ? ids : undefined };
    if (o.json) return printJson(await call(cmd, 'eni.describe', { ...params, filters: o.filter }));
    let enis = await call(cmd, 'eni.list', params);
    if (o.filter !== undefined) {
      const out = await call(cmd, 'eni.describe', { ...params, filters: o.filter });
      const kept = new Set(out.NetworkInterfaces.map((n) => String(n['NetworkInterfaceId'])));
      enis = enis.filter((e) => kept.has(e.id));
    }
    // Fleet: the owning host, and whether it is live (another host's ENI: no TAP here).
    const fleet = enis.some((e) => e.hostId !== undefined);
    const host = (e: (typeof enis)[number]): string =>
      e.hostReachable === false ? `${dash(e.hostId)} (unreachable)` : dash(e.hostId);
    printTable(
      ['ENI', 'TAP', 'NETNS', 'IP', 'MAC', 'SUBNET', 'SDC', 'GROUPS', ...(fleet ? ['HOST'] : [])],
      enis.map((e) => [
        e.id,
        e.vhostUser !== undefined
          ? `vhost-user:${e.vhostUser}`
          : dash(
              e.tap ??
                (e.qemuSocket === undefined
                  ? undefined
                  : `${e.qemuSocketMode === 'connect' ? 'qemu-connect' : 'qemu'}:${e.qemuSocket}`),
            ),
        dash(e.netns ?? e.netnsPath),
        [e.privateIp, ...e.secondaryIps, ...e.ipv6Addresses].join(','),
        e.mac,
        e.subnetId,
        e.sourceDestCheck ? 'on' : 'off',
        e.groupIds.join(','),
        ...(fleet ? [host(e)] : []),
      ]),
    );
  });
  return eni;
}
