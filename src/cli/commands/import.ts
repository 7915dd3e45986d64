/**
 * `eniwall import FILE`: security groups (`aws ec2 describe-security-groups`
 * JSON) and/or network ACLs (`describe-network-acls`), in one object.
 */
import * as fs from 'node:fs';
import { Command } from 'commander';
import { call, example } from '../context';
import { printLine } from '../output';
import { UsageError } from '../fatal';

export function importCommand(): Command {
  return example(
    new Command('import')
      .description(
        'import security groups and/or network ACLs (ids kept, all or nothing); prints their ids',
      )
      .argument(
        '<file>',
        'describe-security-groups and/or describe-network-acls JSON ("-" for stdin)',
      )
      .option('--vpc <vpc>', 'VPC to put them in (default: the VPC ids in the file)'),
    'eniwall import sgs.json   # sgs.json from: aws ec2 describe-security-groups > sgs.json',
    'eniwall import acls.json  # acls.json from: aws ec2 describe-network-acls > acls.json',
  ).action(async (file: string, o: { vpc?: string }, cmd: Command) => {
    let text: string;
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`${file} is not JSON: ${(err as Error).message}`);
    }
    const groups = await call(cmd, 'import', { document, vpcId: o.vpc });
    for (const group of groups) printLine(group.id);
  });
}
