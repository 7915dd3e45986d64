/**
 * Managed prefix lists: CreateManagedPrefixList, DescribeManagedPrefixLists,
 * GetManagedPrefixListEntries, ModifyManagedPrefixList, DeleteManagedPrefixList.
 */
import { AwsError, ErrorCodes } from '../../model/errors';
import type { ParamReader } from '../query';
import { compact, describeOne, idOf, type Ec2Action, type InternalCall, type Json } from './action';

function entries(r: ParamReader, name: string): Json[] | undefined {
  return r.optList(name, (x) =>
    compact({ cidr: x.str('Cidr'), description: x.optStr('Description') }),
  );
}

function family(value: string): 'ipv4' | 'ipv6' {
  if (value === 'IPv4') return 'ipv4';
  if (value === 'IPv6') return 'ipv6';
  throw new AwsError(ErrorCodes.parameterValue, `Invalid AddressFamily '${value}': IPv4 or IPv6`);
}

const describePrefixList = async (call: InternalCall, id: string): Promise<Json> =>
  describeOne(call, 'prefix-list.describe-ec2', { ids: [id] }, 'PrefixLists');

export const prefixListActions: Ec2Action[] = [
  {
    name: 'CreateManagedPrefixList',
    method: 'prefix-list.create',
    readOnly: false,
    decode: (r) =>
      compact({
        name: r.str('PrefixListName'),
        family: family(r.str('AddressFamily')),
        maxEntries: r.int('MaxEntries'),
        entries: entries(r, 'Entry') ?? [],
        tags: r.tagSpecifications('prefix-list'),
        clientToken: r.optStr('ClientToken'),
      }),
    render: async (result, call) => ({ PrefixList: await describePrefixList(call, idOf(result)) }),
  },
  {
    name: 'DescribeManagedPrefixLists',
    method: 'prefix-list.describe-ec2',
    readOnly: true,
    decode: (r) => compact({ ids: r.optStrList('PrefixListId'), filters: r.filters() }),
    paginate: { key: 'PrefixLists', min: 1, max: 100 },
  },
  {
    name: 'GetManagedPrefixListEntries',
    method: 'prefix-list.entries',
    readOnly: true,
    decode: (r) =>
      compact({ id: r.str('PrefixListId'), targetVersion: r.optInt('TargetVersion', { min: 1 }) }),
    // eniwall keeps no old versions: TargetVersion is accepted when it is the current one.
    prepare: async (call, params) => {
      const target = params['targetVersion'];
      if (target === undefined) return;
      const list = await describePrefixList(call, String(params['id']));
      if (list['Version'] !== target) {
        throw new AwsError(
          ErrorCodes.parameterValue,
          `TargetVersion ${String(target)}: only the current version ${String(list['Version'])} is kept`,
        );
      }
    },
    paginate: { key: 'Entries', min: 1, max: 100 },
  },
  {
    name: 'ModifyManagedPrefixList',
    method: 'prefix-list.modify',
    readOnly: false,
    decode: (r) =>
      compact({
        id: r.str('PrefixListId'),
        currentVersion: r.optInt('CurrentVersion'),
        add: entries(r, 'AddEntry'),
        remove: r.optList('RemoveEntry', (x) => x.str('Cidr')),
        name: r.optStr('PrefixListName'),
        maxEntries: r.optInt('MaxEntries'),
      }),
    render: async (result, call) => ({ PrefixList: await describePrefixList(call, idOf(result)) }),
  },
  {
    name: 'DeleteManagedPrefixList',
    method: 'prefix-list.delete',
    readOnly: false,
    decode: (r) => ({ id: r.str('PrefixListId') }),
    // The list is gone once the call returns: its last state, as AWS shows a deleting list.
    render: (result) => {
      const pl = result as {
        id: string;
        name: string;
        family: string;
        maxEntries: number;
        version: number;
      };
      return {
        PrefixList: {
          PrefixListId: pl.id,
          PrefixListName: pl.name,
          AddressFamily: pl.family === 'ipv6' ? 'IPv6' : 'IPv4',
          MaxEntries: pl.maxEntries,
          Version: pl.version,
          State: 'delete-complete',
        },
      };
    },
  },
];
