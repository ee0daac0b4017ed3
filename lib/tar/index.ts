/**
 * Streaming tar: reader, writer and a safe extractor (node: built-ins only, runs on the device).
 * Kept rather than replaced by tar-stream or node-tar after `npm run bench -- tar`: node-tar's
 * extractor sets a directory's mtime before writing its children (hundreds of directories of a
 * layer come out with the wrong time) and adds 113 KiB to the device bundle; tar-stream does not
 * load from the ES module bundle as updater/bundle.ts builds it (it require()s Node built-ins),
 * ignores pax uid/gid/mtime/uname when reading, accepts an archive with no end marker, and its
 * writer lets a uname over 32 bytes run into gname and clamps large uids without a pax record.
 * Peak RSS and byte-identical output were the same for all three.
 */
export type { TarEntry, TarEntryHeader, TarEntryType } from './entry.ts';
export { readTar } from './reader.ts';
export type { TarSource } from './byte-source.ts';
export { writeTar, type TarWriteEntry } from './writer.ts';
export { extractTar, SafeTree, type ExtractOptions, type ExtractResult } from './extract.ts';
export { normalizeMemberPath } from './safe-path.ts';
