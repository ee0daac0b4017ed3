/**
 * A script the device runs (with its own Node.js) to damage its boot partition's FAT the way an
 * interrupted write does: a chain of clusters marked used that no file owns (lost clusters), in
 * every copy of the FAT so that the copies still agree. The files the bootloader reads stay
 * whole, so the OS still boots; fsck.fat reports the damage, and a writer that trusted the FAT's
 * free-space accounting would be working on a filesystem known to be wrong.
 */
export const LOST_CLUSTERS_SCRIPT = `
const fs = require('fs');
// Run as a file or with -e, the last two arguments are the device and the cluster count.
const [dev, count] = [process.argv.at(-2), Number(process.argv.at(-1))];
const fd = fs.openSync(dev, 'r+');
const bs = Buffer.alloc(512);
fs.readSync(fd, bs, 0, 512, 0);
const bps = bs.readUInt16LE(11), spc = bs[13], reserved = bs.readUInt16LE(14), nfats = bs[16];
const rootEntries = bs.readUInt16LE(17);
const total = bs.readUInt16LE(19) || bs.readUInt32LE(32);
const fatSectors = bs.readUInt16LE(22) || bs.readUInt32LE(36);
const rootSectors = Math.ceil(rootEntries * 32 / bps);
const clusters = Math.floor((total - reserved - nfats * fatSectors - rootSectors) / spc);
if (clusters < 4085) throw new Error('FAT12 is not handled');
const wide = clusters >= 65525;
const size = wide ? 4 : 2, eoc = wide ? 0x0FFFFFFF : 0xFFFF;
const fat = Buffer.alloc(fatSectors * bps);
fs.readSync(fd, fat, 0, fat.length, reserved * bps);
const get = (i) => (wide ? fat.readUInt32LE(i * 4) & 0x0FFFFFFF : fat.readUInt16LE(i * 2));
const set = (i, v) => (wide ? fat.writeUInt32LE(v, i * 4) : fat.writeUInt16LE(v, i * 2));
const free = [];
for (let i = clusters + 1; i >= 2 && free.length < count; i--) if (get(i) === 0) free.push(i);
if (free.length < count) throw new Error('not enough free clusters');
free.reverse();
free.forEach((c, k) => set(c, k + 1 < free.length ? free[k + 1] : eoc));
for (let n = 0; n < nfats; n++) fs.writeSync(fd, fat, 0, fat.length, (reserved + n * fatSectors) * bps);
fs.fsyncSync(fd);
console.log('lost chain of ' + free.length + ' clusters at ' + free[0] + '..' + free.at(-1) + ' (FAT' + (wide ? 32 : 16) + ', ' + nfats + ' copies)');
`;
