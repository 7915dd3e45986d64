/** The dataplane's public surface: the native engine wrapper, the driver, namespace helpers. */
export { Dataplane, DEFAULT_OPTIONS, decodeConnEntry } from './dataplane';
export type { ConnEntry, DataplaneOptions, IoMode, PortCounters } from './dataplane';
export { DataplaneDriver, DataplaneApplyError, interfaceConfig } from './driver';
export type { TableCompilerLike } from './driver';
export { native, loadNative, addonCandidates, ADDON_ENV } from './native';
export type { ClassifyQuery, ClassifyVerdict, TraceQuery, TraceResult, TraceZone } from './native';
export * as netns from './netns';
