/** The query decoder (src/ec2/query.ts): form limits and the ParamReader's typed, consuming getters. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParamReader, parseForm } from '../src/ec2/query';
import { AwsError } from '../src/model/errors';

const reader = (body: string): ParamReader => ParamReader.of(parseForm(Buffer.from(body)));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AwsError) return err.code;
    throw err;
  }
  return 'no error';
}

test('parseForm: + and %20, empty body, duplicates, limits, UTF-8', () => {
  const f = parseForm(Buffer.from('A=x+y&B=x%20y&C=%E2%82%AC&D='));
  assert.deepEqual(
    [...f],
    [
      ['A', 'x y'],
      ['B', 'x y'],
      ['C', '€'],
      ['D', ''],
    ],
  );
  assert.equal(parseForm(Buffer.from('')).size, 0);
  assert.equal(
    code(() => parseForm(Buffer.from('A=1&A=2'))),
    'MalformedQueryString',
  );
  assert.equal(
    code(() => parseForm(Buffer.from('=1'))),
    'MalformedQueryString',
  );
  assert.equal(
    code(() => parseForm(Buffer.from('A=1&B=2&C=3'), 2)),
    'MalformedQueryString',
  );
  assert.equal(
    code(() => parseForm(Buffer.from('&'.repeat(20)), 10)),
    'MalformedQueryString',
  );
  assert.equal(
    code(() => parseForm(Buffer.from([0x41, 0x3d, 0xff]))),
    'MalformedQueryString',
  );
  assert.equal(parseForm(Buffer.from('A=1&B=2'), 2).size, 2);
});

test('ParamReader: scalars and their types', () => {
  const r = reader('S=text&I=-5&B=true&F=False&N=abc&Y=yes');
  assert.equal(r.str('S'), 'text');
  assert.equal(r.optInt('I'), -5);
  assert.equal(r.optBool('B'), true);
  assert.equal(r.optBool('F'), false);
  assert.equal(r.optStr('Missing'), undefined);
  assert.equal(
    code(() => r.str('Missing')),
    'MissingParameter',
  );
  assert.equal(
    code(() => r.optInt('N')),
    'InvalidParameterValue',
  );
  assert.equal(
    code(() => r.optBool('Y')),
    'InvalidParameterValue',
  );
  assert.equal(
    code(() => r.optInt('I', { min: 0 })),
    'InvalidParameterValue',
  );
  assert.doesNotThrow(() => r.finish());
});

test('ParamReader: lists are 1-based, sorted numerically, without gaps', () => {
  const body = Array.from({ length: 12 }, (_, i) => `G.${12 - i}=g${12 - i}`).join('&');
  assert.deepEqual(
    reader(body).strList('G'),
    Array.from({ length: 12 }, (_, i) => `g${i + 1}`),
  );
  for (const bad of ['G.0=a', 'G.01=a', 'G.1=a&G.3=b', 'G.1001=a']) {
    assert.equal(
      code(() => reader(bad).optStrList('G')),
      'InvalidParameterValue',
      bad,
    );
  }
  assert.equal(reader('G.1000=a').has('G'), true);
  assert.equal(
    code(() => reader('G.1000=a').optStrList('G')),
    'InvalidParameterValue',
  );
  assert.equal(
    code(() => reader('X=1').strList('G')),
    'MissingParameter',
  );
  // A structure list element, nested lists and a struct.
  const r = reader(
    'P.2.Proto=udp&P.1.Proto=tcp&P.1.Ranges.1.Cidr=10.0.0.0/8&P.1.Ranges.2.Cidr=::/0&E.Value=true',
  );
  const perms = r.list('P', (x) => ({
    proto: x.str('Proto'),
    ranges: x.optList('Ranges', (y) => y.str('Cidr')) ?? [],
  }));
  assert.deepEqual(perms, [
    { proto: 'tcp', ranges: ['10.0.0.0/8', '::/0'] },
    { proto: 'udp', ranges: [] },
  ]);
  assert.equal(r.optBoolValue('E'), true);
  assert.equal(r.optBoolValue('Absent'), undefined);
  r.finish();
});

test('ParamReader: finish() names what nothing read', () => {
  const r = reader('A=1&B.1.C=2&B.1.D=3');
  r.str('A');
  r.list('B', (x) => x.str('C'));
  assert.throws(
    () => r.finish(),
    (err: AwsError) => err.code === 'UnknownParameter' && /B\.1\.D/.test(err.message),
  );
  const s = reader('G.x=1');
  assert.equal(s.optStrList('G'), undefined);
  assert.equal(
    code(() => s.finish()),
    'UnknownParameter',
  );
});

test('ParamReader: TagSpecification and Filter', () => {
  const r = reader(
    'TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=v1' +
      '&TagSpecification.1.Tag.2.Key=empty' +
      '&Filter.1.Name=vpc-id&Filter.1.Value.1=a&Filter.1.Value.2=b&Filter.2.Name=nothing',
  );
  assert.deepEqual(r.tagSpecifications('vpc'), [
    { Key: 'Name', Value: 'v1' },
    { Key: 'empty', Value: '' },
  ]);
  assert.deepEqual(r.filters(), [
    { Name: 'vpc-id', Values: ['a', 'b'] },
    { Name: 'nothing', Values: [] },
  ]);
  r.finish();
  const wrong = reader('TagSpecification.1.ResourceType=subnet&TagSpecification.1.Tag.1.Key=k');
  assert.equal(
    code(() => wrong.tagSpecifications('vpc')),
    'InvalidParameterValue',
  );
  assert.equal(reader('X=1').tagSpecifications('vpc'), undefined);
});
