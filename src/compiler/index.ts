/** The compiler's public surface: table compilation and the reference evaluator (tests read tables with test/helpers/table-reader.ts). */
export { TableCompiler, compileTable, type CompileStats } from './compile';
export {
  evaluate,
  evaluateNacl,
  evaluatePath,
  type NaclQuery,
  type NaclVerdict,
  type PathQuery,
  type PathVerdict,
  type ReferenceQuery,
  type ReferenceVerdict,
} from './reference';
export * as layout from '../abi/layout';
