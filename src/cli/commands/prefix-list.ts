/** `eniwall prefix-list ...`: customer-managed prefix lists. */
import { Command } from 'commander';
import { call, example } from '../context';
import { dash, printJson, printLine, printTable } from '../output';
import type { Tag } from '../../model/types';
import {
  collectFilter,
  collectTag,
  FILTER_HELP,
  type FilterOption,
  parseInteger,
  TAG_HELP,
} from '../parse';

type CreateOptions = { name: string; maxEntries: string; cidr: string[]; tag?: Tag[] };
type ListOptions = { json?: boolean; filter?: FilterOption[] };
import { UsageError } from '../fatal';

export function prefixListCommand(): Command {
  const pl = new Command('prefix-list').description('managed prefix lists');

  example(
    pl
      .command('create')
      .description('create a prefix list; prints its id')
      .requiredOption('--name <name>', 'prefix list name')
      .requiredOption('--max-entries <n>', 'maximum number of entries (counts against rule quotas)')
      .requiredOption('--cidr <cidr...>', 'entries (one family); repeat or list several')
      .option('--tag <key=value>', TAG_HELP, collectTag),
    'eniwall prefix-list create --name corp --max-entries 10 --cidr 10.1.0.0/16 --cidr 10.2.0.0/16',
  ).action(async (o: CreateOptions, cmd: Command) => {
    const created = await call(cmd, 'prefix-list.create', {
      name: o.name,
      maxEntries: parseInteger(o.maxEntries, '--max-entries'),
      entries: o.cidr.map((cidr) => ({ cidr })),
      tags: o.tag,
    });
    printLine(created.id);
  });

  example(
    pl
      .command('modify')
      .description(
        'add and remove entries (a new version; the change reaches every rule that uses the list), rename, resize; prints the version',
      )
      .argument('<pl>', 'prefix list id')
      .option('--add <cidr...>', 'entries to add')
      .option('--remove <cidr...>', 'entries to remove')
      .option(
        '--current-version <n>',
        'refuse (PrefixListVersionMismatch) unless the list is at this version',
      )
      .option('--name <name>', 'new name (not a new version)')
      .option('--max-entries <n>', 'new maximum size (not together with --add/--remove)'),
    'eniwall prefix-list modify pl-0123456789abcdef0 --add 10.3.0.0/16 --remove 10.1.0.0/16',
    'eniwall prefix-list modify pl-0123456789abcdef0 --current-version 2 --max-entries 20',
  ).action(
    async (
      id: string,
      o: {
        add?: string[];
        remove?: string[];
        currentVersion?: string;
        name?: string;
        maxEntries?: string;
      },
      cmd: Command,
    ) => {
      if (
        !o.add?.length &&
        !o.remove?.length &&
        o.name === undefined &&
        o.maxEntries === undefined
      ) {
        throw new UsageError('give --add, --remove, --name and/or --max-entries');
      }
      const list = await call(cmd, 'prefix-list.modify', {
        id,
        add: o.add?.map((cidr) => ({ cidr })),
        remove: o.remove,
        currentVersion:
          o.currentVersion === undefined
            ? undefined
            : parseInteger(o.currentVersion, '--current-version'),
        name: o.name,
        maxEntries:
          o.maxEntries === undefined ? undefined : parseInteger(o.maxEntries, '--max-entries'),
      });
      printLine(String(list.version)); // the new version, for the next --current-version
    },
  );

  example(
    pl
      .command('describe')
      .description('list prefix lists')
      .argument('[pl...]', 'prefix list ids (default: all)')
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option(
        '--json',
        'the `aws ec2 describe-managed-prefix-lists` JSON shape (entries: `entries`)',
      ),
    'eniwall prefix-list describe',
  ).action(async (ids: string[], o: ListOptions, cmd: Command) => {
    const query = { ids: ids.length ? ids : undefined };
    const ec2 = { ...query, filters: o.filter };
    if (o.json) return printJson(await call(cmd, 'prefix-list.describe-ec2', ec2));
    let lists = await call(cmd, 'prefix-list.describe', query);
    if (o.filter !== undefined) {
      const out = await call(cmd, 'prefix-list.describe-ec2', ec2);
      const kept = new Set(out.PrefixLists.map((l) => String(l['PrefixListId'])));
      lists = lists.filter((l) => kept.has(l.id));
    }
    printTable(
      ['PREFIX LIST', 'NAME', 'FAMILY', 'MAX', 'VERSION', 'ENTRIES'],
      lists.map((l) => [
        l.id,
        l.name,
        l.family,
        l.maxEntries,
        l.version,
        l.entries.map((e) => e.cidr).join(','),
      ]),
    );
  });

  example(
    pl
      .command('entries')
      .description("list a prefix list's entries")
      .argument('<pl>', 'prefix list id')
      .option('--json', 'the `aws ec2 get-managed-prefix-list-entries` JSON shape'),
    'eniwall prefix-list entries pl-0123456789abcdef0 --json',
  ).action(async (id: string, o: { json?: boolean }, cmd: Command) => {
    const out = await call(cmd, 'prefix-list.entries', { id });
    if (o.json) return printJson(out);
    printTable(
      ['CIDR', 'DESCRIPTION'],
      out.Entries.map((e) => [e.Cidr, dash(e.Description)]),
    );
  });

  example(
    pl
      .command('delete')
      .description('delete a prefix list (DependencyViolation while a rule references it)')
      .argument('<pl>', 'prefix list id'),
    'eniwall prefix-list delete pl-0123456789abcdef0',
  ).action(async (id: string, _o: unknown, cmd: Command) => {
    await call(cmd, 'prefix-list.delete', { id });
  });
  return pl;
}
