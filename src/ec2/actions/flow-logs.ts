/** Flow logs: CreateFlowLogs, DescribeFlowLogs, DeleteFlowLogs. */
import { compact, type Ec2Action, type Json } from './action';

export const flowLogActions: Ec2Action[] = [
  {
    name: 'CreateFlowLogs',
    method: 'flow-logs.create',
    readOnly: false,
    decode: (r) =>
      compact({
        resourceIds: r.strList('ResourceId'),
        resourceType: r.str('ResourceType'),
        trafficType: r.optStr('TrafficType'),
        maxAggregationInterval: r.optInt('MaxAggregationInterval'),
        logFormat: r.optStr('LogFormat'),
        logDestinationType: r.optStr('LogDestinationType'),
        logDestination: r.optStr('LogDestination'),
        tags: r.tagSpecifications('vpc-flow-log'),
        clientToken: r.optStr('ClientToken'),
      }),
    render: (result, _call, params) =>
      compact({ ...(result as Json), ClientToken: params['clientToken'] }),
  },
  {
    name: 'DescribeFlowLogs',
    method: 'flow-logs.describe',
    readOnly: true,
    decode: (r) => compact({ ids: r.optStrList('FlowLogId'), filters: r.filters() }),
    paginate: { key: 'FlowLogs', min: 1, max: 1000 },
  },
  {
    name: 'DeleteFlowLogs',
    method: 'flow-logs.delete',
    readOnly: false,
    decode: (r) => ({ ids: r.strList('FlowLogId') }),
  },
];
