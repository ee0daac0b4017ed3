/**
 * The 1.x network settings as NetworkManager keyfiles (lib/nm-keyfiles.ts), the way the field's
 * upgrade-1.x-to-2.x.sh writes them, and the migration's progress table against the field's.
 */
import t from 'tap';
import { keyfilesFor1x, netmaskPrefix, parseConnmanConfig } from '../lib/nm-keyfiles.ts';
import { ONEX_MIGRATE_MILESTONES, ONEX_MIGRATE_STEPS, ONEX_TO_2X_PROGRESS } from '../lib/contract/onex.ts';
import { onexLogLine } from '../updater/onex/migrate-log.ts';

const CONFIG_NETWORK = `[service_home_ethernet]
Type = ethernet
IPv4 = 192.168.1.20/255.255.255.0/192.168.1.1
Nameservers = 8.8.8.8;1.1.1.1

[service_home_wifi]
Hidden = true
Type = wifi
Name = home net
Passphrase = s3cret=pass
`;

t.test('ConnMan service files: sections, keys, values with spaces and =', async (t) => {
  const c = parseConnmanConfig(CONFIG_NETWORK);
  t.same([...c.keys()], ['service_home_ethernet', 'service_home_wifi']);
  t.equal(c.get('service_home_wifi')?.Name, 'home net');
  t.equal(c.get('service_home_wifi')?.Passphrase, 's3cret=pass');
});

t.test(
  "config.json's wifi and static ethernet, and WiFi Connect's file, become the field's three keyfiles",
  async (t) => {
    const files = keyfilesFor1x({
      configJsonNetwork: CONFIG_NETWORK,
      wifiConnect: '[service_home_wifi]\nType = wifi\nName = lab-connect\nPassphrase = connect-pass\n',
    });
    t.same(
      files.map((f) => f.name),
      ['resin-wifi', 'resin-static-ethernet', 'resin-wifi-connect'],
    );
    const wifi = files[0]!.content;
    t.match(wifi, /^\[connection\]\nid=resin-wifi\ntype=wifi\n/);
    t.match(wifi, /\n\[wifi\]\nhidden=true\nmode=infrastructure\nssid=home net\n/);
    t.match(wifi, /\n\[wifi-security\]\nauth-alg=open\nkey-mgmt=wpa-psk\npsk=s3cret=pass\n/);
    t.match(wifi, /\n\[ipv4\]\nmethod=auto\n/);
    const eth = files[1]!.content;
    t.match(eth, /\ninterface-name=eth0\n/);
    t.match(eth, /\nmethod=manual\naddress1=192\.168\.1\.20\/24,192\.168\.1\.1\ndns=8\.8\.8\.8;1\.1\.1\.1;\n/);
    t.match(files[2]!.content, /\nid=resin-wifi-connect\n[\s\S]*\nssid=lab-connect\n[\s\S]*\npsk=connect-pass\n/);
  },
);

t.test(
  'nothing to migrate: no keyfiles; an open network has no security section; an empty SSID is skipped',
  async (t) => {
    t.same(keyfilesFor1x({}), []);
    t.same(
      keyfilesFor1x({ configJsonNetwork: '[service_home_ethernet]\nType = ethernet\n' }),
      [],
      'DHCP ethernet needs no file',
    );
    const open = keyfilesFor1x({ configJsonNetwork: '[service_home_wifi]\nName = cafe\n' });
    t.equal(open.length, 1);
    t.notMatch(open[0]!.content, /wifi-security|psk=/);
    t.same(keyfilesFor1x({ wifiConnect: '[service_home_wifi]\nName = \nPassphrase = x\n' }), []);
    t.equal(netmaskPrefix('255.255.240.0'), 20);
    t.equal(netmaskPrefix('16'), 16);
  },
);

t.test("the migration's progress: the field's percentages in order, at the steps that report them", async (t) => {
  const table = ONEX_MIGRATE_STEPS.flatMap((s) => {
    const m = ONEX_MIGRATE_MILESTONES[s];
    return m ? [`${s} ${m.percent} ${m.message}`] : [];
  });
  t.same(table, [
    'checks 5 Preparing OS update',
    'tools 25 Preparing OS update',
    'fetch 50 Downloading OS update',
    'write-root 60 Processing OS update package',
    'restore-data 75 Running OS update',
  ]);
  t.equal(ONEX_TO_2X_PROGRESS.done.percent, 100);
  t.equal(ONEX_TO_2X_PROGRESS.done.message, 'Update successful, rebooting');
  t.ok(
    ONEX_MIGRATE_STEPS.indexOf('data-check') < ONEX_MIGRATE_STEPS.indexOf('stop-services'),
    '/data is measured before anything is stopped or removed',
  );
  t.ok(ONEX_MIGRATE_STEPS.indexOf('backup') < ONEX_MIGRATE_STEPS.indexOf('repartition'));
  t.equal(onexLogLine(12.7, 'LOG', 'Preparing OS update'), '[000000012][LOG]Preparing OS update');
});
