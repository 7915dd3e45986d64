/** `eniwall tags create|delete|describe`: CreateTags, DeleteTags, DescribeTags. */
import { Command } from 'commander';
import { call, example } from '../context';
import { UsageError } from '../fatal';
import { printJson, printTable } from '../output';
import { collectFilter, FILTER_HELP, type FilterOption } from '../parse';

/** `KEY=VALUE` sets/deletes that value; delete also takes a bare `KEY` (any value). */
function parseTagArg(text: string, bareKey: boolean): { Key: string; Value?: string } {
  const eq = text.indexOf('=');
  if (eq < 0 && bareKey && text !== '') return { Key: text };
  if (eq <= 0)
    throw new UsageError(`--tag must be KEY=VALUE${bareKey ? ' or KEY' : ''}, got '${text}'`);
  return { Key: text.slice(0, eq), Value: text.slice(eq + 1) };
}

function collectArg(bareKey: boolean) {
  return (value: string, previous: { Key: string; Value?: string }[] | undefined) => [
    ...(previous ?? []),
    parseTagArg(value, bareKey),
  ];
}

export function tagsCommand(): Command {
  const tags = new Command('tags').description(
    'tags of any resource (vpc-, subnet-, sg-, sgr-, eni-, pl-, acl-, fl-, rtb-)',
  );

  example(
    tags
      .command('create')
      .description('set tags on resources (an existing key gets the new value); all or nothing')
      .argument('<resource...>', 'resource ids')
      .requiredOption('--tag <key=value>', 'tag KEY=VALUE (may repeat)', collectArg(false)),
    'eniwall tags create vpc-0123456789abcdef0 sg-0123456789abcdef0 --tag env=prod --tag team=net',
  ).action(async (ids: string[], o: { tag: { Key: string; Value: string }[] }, cmd: Command) => {
    await call(cmd, 'tags.create', { resourceIds: ids, tags: o.tag });
  });

  example(
    tags
      .command('delete')
      .description('delete tags (no --tag: all of them; KEY=VALUE only when the value matches)')
      .argument('<resource...>', 'resource ids')
      .option('--tag <key[=value]>', 'tag KEY or KEY=VALUE (may repeat)', collectArg(true)),
    'eniwall tags delete vpc-0123456789abcdef0 --tag env',
  ).action(async (ids: string[], o: { tag?: { Key: string; Value?: string }[] }, cmd: Command) => {
    await call(cmd, 'tags.delete', { resourceIds: ids, tags: o.tag });
  });

  example(
    tags
      .command('describe')
      .description('list tags, by resource id then key')
      .option(
        '--filter <filter>',
        `${FILTER_HELP}: resource-id, resource-type, key, value`,
        collectFilter,
      )
      .option('--json', 'the `aws ec2 describe-tags` JSON shape'),
    'eniwall tags describe --filter Name=resource-type,Values=vpc',
  ).action(async (o: { json?: boolean; filter?: FilterOption[] }, cmd: Command) => {
    const out = await call(cmd, 'tags.describe', { filters: o.filter });
    if (o.json) return printJson(out);
    printTable(
      ['RESOURCE', 'TYPE', 'KEY', 'VALUE'],
      out.Tags.map((t) => [t.ResourceId, t.ResourceType, t.Key, t.Value]),
    );
  });
  return tags;
}
