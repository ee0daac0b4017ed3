/**
 * A resinOS 1.x data partition at first boot: Docker's state as the 1.x engine kept it
 * (/mnt/data/docker: the application's container record and its image, here a stand-in of
 * seeded bytes), the application's data folder /mnt/data/resin-data/<appId> (with WiFi Connect's
 * network.config when the release has one) and the 1.x supervisor's own folder. The 1.x -> 2.x
 * migration removes the containers and images and keeps resin-data.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom } from '../../lib/seeded-random.ts';
import type { OnexRecipe } from '../recipe.ts';

/** Where the 1.x data lives on the data partition, relative to its root. */
export const DATA_1X = {
  containers: 'docker/containers',
  images: 'docker/image/huplab',
  appData: 'resin-data',
  supervisor: 'resin-data/resin-supervisor',
} as const;

export async function populateData1x(dir: string, version: string, onex: OnexRecipe): Promise<void> {
  const app = onex.application;
  const containerId = `${app.name}-${app.appId}`;
  const image = `registry.resin.io/${app.name}/${app.appId}:latest`;
  await mkdir(join(dir, DATA_1X.containers, containerId), { recursive: true });
  await writeFile(
    join(dir, DATA_1X.containers, containerId, 'config.v2.json'),
    `${JSON.stringify({ ID: containerId, Name: `/${app.name}`, Config: { Image: image, Labels: { 'io.resin.app_id': String(app.appId) } } }, null, 2)}\n`,
  );
  await mkdir(join(dir, DATA_1X.images), { recursive: true });
  const bytes = Buffer.alloc(app.imageKiB * 1024);
  const random = seededRandom(app.appId);
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(Math.floor(random() * 0x100000000), i);
  await writeFile(join(dir, DATA_1X.images, `${app.name}.layer`), bytes);
  await writeFile(
    join(dir, DATA_1X.images, 'repositories.json'),
    `${JSON.stringify({ Repositories: { [image.split(':')[0]!]: { [image]: `${app.name}.layer` } } }, null, 2)}\n`,
  );
  const appDir = join(dir, DATA_1X.appData, String(app.appId));
  await mkdir(appDir, { recursive: true });
  await writeFile(join(appDir, 'README'), `data of application ${app.name} (${app.appId}), resinOS ${version}\n`);
  if (onex.wifiConnect) {
    // WiFi Connect 1.x: ConnMan's format, seen by the application as /data/network.config.
    await writeFile(
      join(appDir, 'network.config'),
      `[service_home_wifi]\nType = wifi\nName = ${onex.wifiConnect.ssid}\nPassphrase = ${onex.wifiConnect.passphrase}\n`,
    );
  }
  await mkdir(join(dir, DATA_1X.supervisor), { recursive: true });
  await writeFile(
    join(dir, DATA_1X.supervisor, 'apps.json'),
    `${JSON.stringify([{ appId: app.appId, imageId: image }], null, 2)}\n`,
  );
}
