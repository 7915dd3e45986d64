/** The compiler's public surface: table compilation, reading, and the reference evaluator. */
export { TableCompiler, compileTable, type CompileStats } from './compile';
export { evaluate, type ReferenceQuery, type ReferenceVerdict } from './reference';
export {
  TableView,
  TableError,
  readTable,
  classifyTable,
  type ClassifyResult,
} from './table-reader';
export * as layout from '../abi/layout';
