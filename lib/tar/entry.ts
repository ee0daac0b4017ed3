/** What the reader yields and the writer takes: one archive member, content excluded. */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TarEntryHeader {
  /** The member's path as stored (after pax/GNU long names), not normalised. */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Content bytes; 0 for everything but files. */
  size: number;
  /** Seconds since the epoch; fractional when a pax record carries sub-second precision. */
  mtime: number;
  /** Symlink target (verbatim) or, for a hard link, the archive path of the linked member. */
  linkname?: string;
}

/** A member being read: `body` yields its content once; an unread body is skipped by the reader. */
export interface TarEntry extends TarEntryHeader {
  body: AsyncIterable<Buffer>;
}
