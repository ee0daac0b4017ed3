// Applies /mnt/boot/config.json at boot: the hostname (first 7 characters of the uuid, as on
// balenaOS, unless config.json names one) and root's authorized_keys from os.sshKeys.
import { readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let config;
try {
  config = JSON.parse(readFileSync('/mnt/boot/config.json', 'utf8'));
} catch (err) {
  console.error(`[huplab] os-config: /mnt/boot/config.json unreadable: ${err.message}`);
  process.exit(1);
}
const hostname = config.hostname || (typeof config.uuid === 'string' ? config.uuid.slice(0, 7) : 'balena');
execFileSync('hostname', [hostname]);

const keys = Array.isArray(config.os?.sshKeys) ? config.os.sshKeys.filter((k) => typeof k === 'string') : [];
mkdirSync('/home/root/.ssh', { recursive: true, mode: 0o700 });
writeFileSync('/home/root/.ssh/authorized_keys', `${keys.map((k) => k.trim()).join('\n')}\n`, { mode: 0o600 });
chmodSync('/home/root/.ssh', 0o700);
console.log(`[huplab] os-config: hostname ${hostname}, ${keys.length} ssh key(s)`);
