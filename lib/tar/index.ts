/** Streaming tar: reader, writer and a safe extractor (node: built-ins only, runs on the device). */
export type { TarEntry, TarEntryHeader, TarEntryType } from './entry.ts';
export { readTar } from './reader.ts';
export type { TarSource } from './byte-source.ts';
export { writeTar, type TarWriteEntry } from './writer.ts';
export { extractTar, SafeTree, type ExtractOptions, type ExtractResult } from './extract.ts';
export { normalizeMemberPath } from './safe-path.ts';
