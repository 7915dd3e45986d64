/**
 * The AWS error code a call fails with, so tests compare codes with
 * assert.equal (and a wrong error shows up as its text, not a bare `false`).
 */
import { AwsError } from '../../src/model/errors';

/** The code of the AwsError `fn` throws; undefined when it returns; a telling string for any other throw. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof AwsError ? e.code : `not an AwsError: ${String(e)}`;
  }
}
