/**
 * Prefix-list versions and the ModifyManagedPrefixList parameters beyond
 * entries: every entry change makes a new version, a stale CurrentVersion is
 * PrefixListVersionMismatch, a rename or resize is not a new version,
 * MaxEntries cannot shrink below the entries nor change with them, a resize
 * must fit the rule quota of referencing groups, and delete is refused while
 * a rule references the list (DependencyViolation).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Model } from '../src/model/model';
import { codeOf } from './helpers/errors';

function world(quotas: { rulesPerGroup?: number } = {}) {
  const m = Model.createDefault({ quotas });
  const pl = m.createPrefixList({
    name: 'corp',
    maxEntries: 3,
    entries: [{ cidr: '10.1.0.0/16' }, { cidr: '10.2.0.0/16' }],
  });
  m.takeChanges();
  return { m, pl: pl.id };
}

test('each entry change makes a new version; CurrentVersion must be the current one', () => {
  const w = world();
  assert.equal(w.m.listPrefixLists([w.pl])[0]?.version, 1);
  assert.equal(w.m.modifyPrefixList(w.pl, { add: [{ cidr: '10.3.0.0/16' }] }).version, 2);
  assert.equal(
    w.m.modifyPrefixList(w.pl, { remove: ['10.1.0.0/16'], currentVersion: 2 }).version,
    3,
  );
  const before = JSON.stringify(w.m.snapshot());
  for (const stale of [1, 2, 4]) {
    assert.equal(
      codeOf(() =>
        w.m.modifyPrefixList(w.pl, { add: [{ cidr: '10.9.0.0/16' }], currentVersion: stale }),
      ),
      'PrefixListVersionMismatch',
    );
  }
  assert.equal(JSON.stringify(w.m.snapshot()), before);
  const described = w.m.describeManagedPrefixLists([w.pl]).PrefixLists[0] as Record<
    string,
    unknown
  >;
  assert.equal(described['Version'], 3);
  assert.equal(described['State'], 'modify-complete');
});

test('name and MaxEntries change without a new version; the limits hold', () => {
  const w = world();
  const renamed = w.m.modifyPrefixList(w.pl, { name: 'corp-2', currentVersion: 1 });
  assert.equal(renamed.name, 'corp-2');
  assert.equal(renamed.version, 1);
  assert.deepEqual(w.m.takeChanges().prefixLists.modified, [w.pl]);
  const resized = w.m.modifyPrefixList(w.pl, { maxEntries: 10 });
  assert.equal(resized.maxEntries, 10);
  assert.equal(resized.version, 1);

  const before = JSON.stringify(w.m.snapshot());
  const cases: [string, string, Parameters<Model['modifyPrefixList']>[1]][] = [
    ['below the entry count', 'InvalidParameterValue', { maxEntries: 1 }],
    ['zero', 'InvalidParameterValue', { maxEntries: 0 }],
    ['above the quota', 'InvalidParameterValue', { maxEntries: 1001 }],
    [
      'with entries',
      'InvalidParameterCombination',
      { maxEntries: 5, add: [{ cidr: '10.7.0.0/16' }] },
    ],
    ['an empty name', 'InvalidParameterValue', { name: '' }],
    ['nothing', 'MissingParameter', {}],
    ['beyond MaxEntries', 'PrefixListMaxEntriesExceeded', { add: tooMany() }],
  ];
  for (const [name, code, input] of cases) {
    assert.equal(
      codeOf(() => w.m.modifyPrefixList(w.pl, input)),
      code,
      name,
    );
    assert.equal(JSON.stringify(w.m.snapshot()), before, `${name}: nothing changed`);
  }
});

function tooMany() {
  return Array.from({ length: 9 }, (_, i) => ({ cidr: `10.${100 + i}.0.0/16` }));
}

test('a larger MaxEntries must fit the rule quota of the groups that reference the list', () => {
  const w = world({ rulesPerGroup: 10 });
  const g = w.m.createSecurityGroup({ name: 'g', description: 'g' }).id;
  w.m.authorize(g, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 1, ToPort: 1, PrefixListIds: [{ PrefixListId: w.pl }] },
  ]);
  assert.equal(
    codeOf(() => w.m.modifyPrefixList(w.pl, { maxEntries: 11 })),
    'RulesPerSecurityGroupLimitExceeded',
  );
  assert.equal(w.m.listPrefixLists([w.pl])[0]?.maxEntries, 3);
  assert.equal(w.m.modifyPrefixList(w.pl, { maxEntries: 10 }).maxEntries, 10);
});

test('delete is refused while a rule references the list', () => {
  const w = world();
  const g = w.m.createSecurityGroup({ name: 'g', description: 'g' }).id;
  const [rule] = w.m.authorize(g, 'egress', [
    { IpProtocol: '-1', PrefixListIds: [{ PrefixListId: w.pl }] },
  ]);
  assert.equal(
    codeOf(() => w.m.deletePrefixList(w.pl)),
    'DependencyViolation',
  );
  w.m.revoke(g, 'egress', { ruleIds: [rule?.id as string] });
  assert.equal(w.m.deletePrefixList(w.pl).id, w.pl);
  assert.equal(w.m.listPrefixLists().length, 0);
});
