/** Tags: CreateTags, DeleteTags, DescribeTags. */
import { AwsError, ErrorCodes } from '../../model/errors';
import { compact, empty, type Ec2Action } from './action';

export const tagActions: Ec2Action[] = [
  {
    name: 'CreateTags',
    method: 'tags.create',
    readOnly: false,
    decode: (r) => {
      const tags = r.tags();
      if (tags === undefined) {
        throw new AwsError(
          ErrorCodes.missingParameter,
          'The request must contain the parameter Tag.1',
        );
      }
      return { resourceIds: r.strList('ResourceId'), tags };
    },
    render: empty,
  },
  {
    name: 'DeleteTags',
    method: 'tags.delete',
    readOnly: false,
    decode: (r) =>
      compact({
        resourceIds: r.strList('ResourceId'),
        // Without Value a tag is deleted whatever its value; Value='' matches only ''.
        tags: r.optList('Tag', (t) => compact({ Key: t.str('Key'), Value: t.optStr('Value') })),
      }),
    render: empty,
  },
  {
    name: 'DescribeTags',
    method: 'tags.describe',
    readOnly: true,
    decode: (r) => compact({ filters: r.filters() }),
    paginate: { key: 'Tags', min: 5, max: 1000 },
  },
];
