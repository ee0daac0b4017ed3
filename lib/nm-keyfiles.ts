/**
 * The network settings of a resinOS 1.x device (ConnMan's service files: config.json's
 * `files["network/network.config"]`, and WiFi Connect's /data/network.config) turned into the
 * NetworkManager keyfiles a 2.x device reads from the boot partition's system-connections/, as
 * the field's upgrade-1.x-to-2.x.sh writes them: `resin-wifi`, `resin-wifi-connect` and
 * `resin-static-ethernet`. Pure: the migration writes what this returns, the harness compares.
 */

/** ConnMan's service file: `[section]` headers and `Key = value` lines. */
export function parseConnmanConfig(text: string): Map<string, Record<string, string>> {
  const sections = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = {};
      sections.set(header[1]!.trim(), current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current && eq > 0) current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return sections;
}

/** The keyfile of a WiFi network as the field writes it (hidden, WPA-PSK when there is a passphrase). */
export function wifiKeyfile(id: string, ssid: string, psk: string | undefined): string {
  return [
    '[connection]',
    `id=${id}`,
    'type=wifi',
    '',
    '[wifi]',
    'hidden=true',
    'mode=infrastructure',
    `ssid=${ssid}`,
    '',
    ...(psk ? ['[wifi-security]', 'auth-alg=open', 'key-mgmt=wpa-psk', `psk=${psk}`, ''] : []),
    '[ipv4]',
    'method=auto',
    '',
    '[ipv6]',
    'addr-gen-mode=stable-privacy',
    'method=auto',
    '',
  ].join('\n');
}

/** A dotted netmask as a prefix length (255.255.255.0 -> 24); a number is taken as is. */
export function netmaskPrefix(mask: string): number {
  if (/^\d+$/.test(mask)) return Number(mask);
  return mask
    .split('.')
    .map((o) => Number(o).toString(2).replace(/0/g, '').length)
    .reduce((a, b) => a + b, 0);
}

/** ConnMan's `IPv4 = address/netmask/gateway` (and `Nameservers = a;b`) as a static eth0 keyfile. */
export function staticEthernetKeyfile(ipv4: string, nameservers: string | undefined): string {
  const [address, mask, gateway] = ipv4.split('/');
  const dns = (nameservers ?? '')
    .split(/[;,]/)
    .map((s) => s.trim())
    .filter(Boolean);
  return [
    '[connection]',
    'id=resin-static-ethernet',
    'type=ethernet',
    'interface-name=eth0',
    '',
    '[ipv4]',
    'method=manual',
    `address1=${address}/${netmaskPrefix(mask ?? '24')}${gateway ? `,${gateway}` : ''}`,
    ...(dns.length ? [`dns=${dns.join(';')};`] : []),
    '',
    '[ipv6]',
    'method=auto',
    '',
  ].join('\n');
}

export interface Keyfile {
  /** The file name under system-connections/. */
  name: string;
  content: string;
}

/** The field's keyfile names. */
export const KEYFILES = {
  wifi: 'resin-wifi',
  wifiConnect: 'resin-wifi-connect',
  staticEthernet: 'resin-static-ethernet',
} as const;

/**
 * The keyfiles for a 1.x device: from config.json's `files["network/network.config"]`
 * (service_home_wifi, service_home_ethernet with IPv4) and from WiFi Connect's network.config,
 * when there is one; a WiFi Connect file without an SSID is skipped, as in the field.
 */
export function keyfilesFor1x(o: { configJsonNetwork?: string; wifiConnect?: string }): Keyfile[] {
  const out: Keyfile[] = [];
  const conf = o.configJsonNetwork ? parseConnmanConfig(o.configJsonNetwork) : new Map();
  const wifi = conf.get('service_home_wifi');
  if (wifi?.Name) out.push({ name: KEYFILES.wifi, content: wifiKeyfile(KEYFILES.wifi, wifi.Name, wifi.Passphrase) });
  const eth = conf.get('service_home_ethernet');
  if (eth?.IPv4 && eth.IPv4 !== 'dhcp')
    out.push({ name: KEYFILES.staticEthernet, content: staticEthernetKeyfile(eth.IPv4, eth.Nameservers) });
  if (o.wifiConnect) {
    const wc = parseConnmanConfig(o.wifiConnect).get('service_home_wifi');
    if (wc?.Name)
      out.push({
        name: KEYFILES.wifiConnect,
        content: wifiKeyfile(KEYFILES.wifiConnect, wc.Name, wc.Passphrase),
      });
  }
  return out;
}
