/**
 * enum ew_ct_state (native/include/eniwall/core.h), by number, without the
 * EW_CT_ prefix. test/abi-contract.test.ts checks it against the header.
 */
export const CT_STATES = [
  'NONE',
  'TCP_SYN_SENT',
  'TCP_SYN_RECV',
  'TCP_ESTABLISHED',
  'TCP_FIN_WAIT',
  'TCP_CLOSE_WAIT',
  'TCP_LAST_ACK',
  'TCP_TIME_WAIT',
  'TCP_CLOSE',
  'UDP_SINGLE',
  'UDP_STREAM',
  'ICMP_ECHO',
  'OTHER',
] as const;

/** The name a conntrack state is printed with (CLI flows, check); an unknown number stays visible. */
export function ctStateName(state: number): string {
  return CT_STATES[state] ?? `STATE_${state}`;
}
