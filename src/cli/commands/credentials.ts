/**
 * `eniwall credentials ...`: the access keys of the EC2 endpoint
 * (`eniwall daemon --ec2-listen`). The secret is printed once, at create;
 * the daemon keeps it in <state-dir>/ec2-credentials.json (root only).
 */
import * as fs from 'node:fs';
import { Command } from 'commander';
import { call, example } from '../context';
import { UsageError } from '../fatal';
import { printJson, printLine, printTable } from '../output';

function readPolicy(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

export function credentialsCommand(): Command {
  const credentials = new Command('credentials').description(
    'access keys for the EC2 endpoint (aws CLI, SDKs, Terraform), each with an action allow-list',
  );

  example(
    credentials
      .command('create')
      .description('create an access key; prints its id and secret (shown this once only)')
      .requiredOption('--name <name>', 'a unique name (1-64 of A-Z a-z 0-9 + = , . @ _ -)')
      .option(
        '--policy <file>',
        'JSON {"Actions": [...], "VpcIds": [...]} (default: {"Actions": ["ec2:*", "sts:GetCallerIdentity"]})',
      )
      .option('--json', 'JSON output (includes SecretAccessKey)'),
    'eniwall credentials create --name ci',
    'echo \'{"Actions":["ec2:Describe*","ec2:*SecurityGroup*"],"VpcIds":["vpc-0123456789abcdef0"]}\' > p.json\n' +
      '  $ eniwall credentials create --name terraform --policy p.json',
  ).action(async (o: { name: string; policy?: string; json?: boolean }, cmd: Command) => {
    const policy = o.policy === undefined ? undefined : readPolicy(o.policy);
    const c = await call(cmd, 'credentials.create', { name: o.name, policy });
    if (o.json) return printJson(c);
    printLine(`AccessKeyId      ${c.AccessKeyId}`);
    printLine(`SecretAccessKey  ${c.SecretAccessKey}`);
    printLine('');
    printLine('The secret is not shown again. To use it:');
    printLine(
      `  export AWS_ACCESS_KEY_ID=${c.AccessKeyId} AWS_SECRET_ACCESS_KEY=${c.SecretAccessKey}`,
    );
    printLine('  or: aws configure set aws_access_key_id ' + c.AccessKeyId + ' --profile eniwall');
    printLine(
      '      aws configure set aws_secret_access_key ' + c.SecretAccessKey + ' --profile eniwall',
    );
  });

  example(
    credentials
      .command('list')
      .description('the access keys with name, creation time and policy (never the secrets)')
      .option('--json', 'JSON output'),
    'eniwall credentials list',
  ).action(async (o: { json?: boolean }, cmd: Command) => {
    const list = await call(cmd, 'credentials.list', {});
    if (o.json) return printJson(list);
    printTable(
      ['ACCESS KEY ID', 'NAME', 'CREATED', 'ACTIONS', 'VPCS'],
      list.map((c) => [
        c.AccessKeyId,
        c.Name,
        c.CreateTime,
        c.Policy.Actions.join(','),
        c.Policy.VpcIds?.join(',') ?? 'all',
      ]),
    );
  });

  example(
    credentials
      .command('delete')
      .description('delete an access key: requests signed with it fail from now on')
      .argument('<access-key-id>', 'the AKIA… id'),
    'eniwall credentials delete AKIAIOSFODNN7EXAMPLE',
  ).action(async (accessKeyId: string, _o: unknown, cmd: Command) => {
    await call(cmd, 'credentials.delete', { accessKeyId });
  });

  return credentials;
}
