/**
 * CreateTags, DeleteTags, DescribeTags over every kind of resource the model
 * has: vpc-, subnet-, sg-, sgr-, eni-, pl-, acl-, fl- and rtb- (the VPC's
 * synthesized main route table: its tags live on the VPC, see
 * route-tables.ts).
 *
 * Restrictions ("Tag your Amazon EC2 resources"): at most 50 tags per
 * resource (TagLimitExceeded), keys 1..128 characters, values 0..256, keys
 * starting with `aws:` are reserved (InvalidParameterValue). Keys are
 * case-sensitive. An id of no known form is InvalidID; a well-formed id that
 * does not exist is its kind's NotFound code. A request is all or nothing
 * across all its resources: everything is validated before anything changes.
 *
 * A Name tag on a VPC or subnet IS its name (Vpc.name / Subnet.name): setting
 * or deleting it updates the name. `eniwall:*` keys on ENIs (eniwall:tap,
 * eniwall:netns) are ordinary tags here; what they bind is the ENI code's.
 */
import type { ChangeKind } from './change';
import { AwsError, awsError, ErrorCodes, invalidValue, missing } from './errors';
import { checkTagKey, checkTagValue } from './validate';
import { applyFilters, TAG_FILTERS } from './filters';
import { isValidId, type IdKind } from './ids';
import { isRouteTableId, vpcOfRouteTable } from './route-tables';
import type { State } from './state';
import type { Tag } from './types';

export const MAX_TAGS_PER_RESOURCE = 50;

interface Kind {
  prefix: string;
  idKind?: IdKind;
  change: ChangeKind;
  resourceType: string;
  notFound: string;
  noun: string;
}

const KINDS: Kind[] = [
  {
    prefix: 'vpc-',
    idKind: 'vpc',
    change: 'vpcs',
    resourceType: 'vpc',
    notFound: ErrorCodes.vpcNotFound,
    noun: 'vpc',
  },
  {
    prefix: 'subnet-',
    idKind: 'subnet',
    change: 'subnets',
    resourceType: 'subnet',
    notFound: ErrorCodes.subnetNotFound,
    noun: 'subnet',
  },
  {
    prefix: 'sgr-',
    idKind: 'rule',
    change: 'rules',
    resourceType: 'security-group-rule',
    notFound: ErrorCodes.ruleIdNotFound,
    noun: 'security group rule',
  },
  {
    prefix: 'sg-',
    idKind: 'group',
    change: 'groups',
    resourceType: 'security-group',
    notFound: ErrorCodes.groupNotFound,
    noun: 'security group',
  },
  {
    prefix: 'eni-',
    idKind: 'eni',
    change: 'enis',
    resourceType: 'network-interface',
    notFound: ErrorCodes.eniNotFound,
    noun: 'networkInterface',
  },
  {
    prefix: 'pl-',
    idKind: 'prefixList',
    change: 'prefixLists',
    resourceType: 'prefix-list',
    notFound: ErrorCodes.prefixListNotFound,
    noun: 'prefix list',
  },
  {
    prefix: 'acl-',
    idKind: 'networkAcl',
    change: 'networkAcls',
    resourceType: 'network-acl',
    notFound: ErrorCodes.naclNotFound,
    noun: 'networkAcl',
  },
  {
    prefix: 'fl-',
    idKind: 'flowLog',
    change: 'flowLogs',
    resourceType: 'vpc-flow-log',
    notFound: ErrorCodes.flowLogNotFound,
    noun: 'flow log',
  },
  // Stored on the VPC: the change is the VPC's.
  {
    prefix: 'rtb-',
    change: 'vpcs',
    resourceType: 'route-table',
    notFound: ErrorCodes.routeTableNotFound,
    noun: 'routeTable',
  },
];

/** A resource's tag list, where to write it back, and what to record. */
interface Target {
  id: string;
  kind: Kind;
  /** The object the change is recorded under (the VPC for an rtb-). */
  changeId: string;
  tags: Tag[];
  set(tags: Tag[]): void;
}

function kindOf(id: string): Kind {
  const kind = KINDS.find((k) => id.startsWith(k.prefix));
  const wellFormed =
    kind !== undefined &&
    (kind.idKind === undefined ? isRouteTableId(id) : isValidId(kind.idKind, id));
  if (kind === undefined || !wellFormed) {
    throw awsError(ErrorCodes.invalidId, `The ID '${id}' is not valid`);
  }
  return kind;
}

type Tagged = { id: string; tags?: Tag[]; name?: string };

function target(s: State, id: unknown): Target {
  if (typeof id !== 'string' || id === '') throw missing('ResourceId');
  const kind = kindOf(id);
  const gone = (): AwsError =>
    new AwsError(kind.notFound, `The ${kind.noun} ID '${id}' does not exist`);
  if (kind.prefix === 'rtb-') {
    const vpc = vpcOfRouteTable(s, id);
    if (vpc === undefined) throw gone();
    return {
      id,
      kind,
      changeId: vpc.id,
      tags: vpc.routeTableTags ?? [],
      set: (tags) => {
        if (tags.length === 0) delete vpc.routeTableTags;
        else vpc.routeTableTags = tags;
      },
    };
  }
  const map = s[kind.change] as Map<string, Tagged>;
  const obj = map.get(id);
  if (obj === undefined) throw gone();
  const namedByTag = kind.prefix === 'vpc-' || kind.prefix === 'subnet-';
  return {
    id,
    kind,
    changeId: id,
    tags: obj.tags ?? [],
    set: (tags) => {
      obj.tags = tags;
      if (!namedByTag) return;
      const name = tags.find((t) => t.Key === 'Name');
      if (name === undefined) delete obj.name;
      else obj.name = name.Value;
    },
  };
}

const checkKey = checkTagKey;
const checkValue = checkTagValue;

function resourceIds(input: unknown): string[] {
  if (input === undefined || input === null || (Array.isArray(input) && input.length === 0)) {
    throw missing('ResourceId');
  }
  if (!Array.isArray(input)) throw invalidValue('ResourceId must be a list of ids');
  return [...new Set(input as string[])];
}

export function checkTagCount(resource: string, count: number): void {
  if (count > MAX_TAGS_PER_RESOURCE) {
    throw awsError(
      ErrorCodes.tagLimitExceeded,
      `The maximum number of tags per resource (${MAX_TAGS_PER_RESOURCE}) would be exceeded for '${resource}'`,
    );
  }
}

/** CreateTags: each tag set on each resource (an existing key gets the new value). */
export function createTags(s: State, ids: unknown, tags: unknown): { Return: boolean } {
  const resources = resourceIds(ids).map((id) => target(s, id));
  if (tags === undefined || tags === null || (Array.isArray(tags) && tags.length === 0)) {
    throw missing('Tag');
  }
  if (!Array.isArray(tags)) throw invalidValue('Tag must be a list of {Key, Value}');
  // The last value of a key given twice wins.
  const wanted = new Map<string, string>();
  for (const t of tags as unknown[]) {
    const { Key, Value } = (t ?? {}) as { Key?: unknown; Value?: unknown };
    const key = checkKey(Key);
    wanted.set(key, checkValue(key, Value));
  }
  const plans = resources.map((r) => {
    const next = r.tags.map((t) => ({ ...t }));
    for (const [Key, Value] of wanted) {
      const have = next.find((t) => t.Key === Key);
      if (have !== undefined) have.Value = Value;
      else next.push({ Key, Value });
    }
    checkTagCount(r.id, next.length);
    return { r, next };
  });
  for (const { r, next } of plans) {
    r.set(next);
    s.changes.modified(r.kind.change, r.changeId);
  }
  s.rev++;
  return { Return: true };
}

/**
 * DeleteTags: no tags = every tag of the resource; a tag with a Value
 * (even '') is deleted only when its value is that one.
 */
export function deleteTags(s: State, ids: unknown, tags: unknown): { Return: boolean } {
  const resources = resourceIds(ids).map((id) => target(s, id));
  let selectors: { key: string; value?: string }[] | undefined;
  if (tags !== undefined && tags !== null) {
    if (!Array.isArray(tags)) throw invalidValue('Tag must be a list of {Key, Value}');
    if (tags.length > 0) {
      selectors = (tags as unknown[]).map((t) => {
        const { Key, Value } = (t ?? {}) as { Key?: unknown; Value?: unknown };
        const key = checkKey(Key);
        return Value === undefined || Value === null
          ? { key }
          : { key, value: checkValue(key, Value) };
      });
    }
  }
  const plans = resources.map((r) => ({
    r,
    next:
      selectors === undefined
        ? []
        : r.tags.filter(
            (t) =>
              !selectors.some(
                (sel) => sel.key === t.Key && (sel.value === undefined || sel.value === t.Value),
              ),
          ),
  }));
  for (const { r, next } of plans) {
    if (next.length === r.tags.length) continue; // nothing of it matched: untouched
    r.set(next.map((t) => ({ ...t })));
    s.changes.modified(r.kind.change, r.changeId);
  }
  s.rev++;
  return { Return: true };
}

export interface TagDescription {
  ResourceId: string;
  ResourceType: string;
  Key: string;
  Value: string;
}

/** DescribeTags: every tag of every resource, by resource id then key. */
export function describeTags(s: State, filters?: unknown): { Tags: TagDescription[] } {
  const all: TagDescription[] = [];
  const add = (id: string, resourceType: string, tags: Tag[] | undefined): void => {
    for (const t of tags ?? [])
      all.push({ ResourceId: id, ResourceType: resourceType, Key: t.Key, Value: t.Value });
  };
  for (const kind of KINDS) {
    if (kind.prefix === 'rtb-') {
      for (const vpc of s.vpcs.values()) {
        add(`rtb-${vpc.id.slice('vpc-'.length)}`, kind.resourceType, vpc.routeTableTags);
      }
      continue;
    }
    for (const obj of (s[kind.change] as Map<string, Tagged>).values()) {
      add(obj.id, kind.resourceType, obj.tags);
    }
  }
  all.sort((a, b) => cmp(a.ResourceId, b.ResourceId) || cmp(a.Key, b.Key));
  // tag:K on DescribeTags: the tag itself is the item's only tag.
  const picked = applyFilters(
    all as unknown as Record<string, unknown>[],
    filters,
    TAG_FILTERS,
    (t) => [{ Key: String(t['Key']), Value: String(t['Value']) }],
  );
  return { Tags: picked as unknown as TagDescription[] };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
