import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** What must survive a copy of a tree; hard links are shown as "hardlink to <first path>". */
export interface TreeNode {
  type: 'dir' | 'file' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  sha256?: string;
  link?: string;
}

export function snapshotTree(
  root: string,
  opts: { owners?: boolean; mtimes?: boolean } = {},
): Record<string, TreeNode> {
  const owners = opts.owners ?? process.getuid?.() === 0;
  const out: Record<string, TreeNode> = {};
  const inodes = new Map<number, string>();
  const visit = (rel: string) => {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    const node: TreeNode = {
      type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other',
      mode: st.isSymbolicLink() ? 0 : st.mode & 0o7777,
      uid: owners ? st.uid : 0,
      gid: owners ? st.gid : 0,
      mtimeMs: opts.mtimes === false ? 0 : Math.round(st.mtimeMs),
    };
    if (st.isFile()) {
      node.sha256 = createHash('sha256').update(readFileSync(abs)).digest('hex');
      const first = inodes.get(st.ino);
      if (first !== undefined) node.link = `hardlink to ${first}`;
      else if (st.nlink > 1) inodes.set(st.ino, rel);
    }
    if (st.isSymbolicLink()) node.link = readlinkSync(abs);
    out[rel || '.'] = node;
    if (st.isDirectory()) for (const name of readdirSync(abs).sort()) visit(rel ? `${rel}/${name}` : name);
  };
  visit('');
  return out;
}
