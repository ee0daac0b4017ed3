import t from 'tap';
import { boardConfig } from '../harness/device/start-board.ts';
import { LAB_HOST_ADDRESS } from '../lib/contract/lab-host.ts';

const emulated = {
  uuid: 'u1',
  apiEndpoint: `http://${LAB_HOST_ADDRESS}:41001`,
  registryEndpoint: `http://${LAB_HOST_ADDRESS}:41002`,
  fallbackRegistryEndpoint: 'https://registry.example:5000',
  deltaEndpoint: `http://${LAB_HOST_ADDRESS}:41004/deltas`,
  labHost: { address: LAB_HOST_ADDRESS, ports: [41001, 41002, 41004] },
};

t.test("a board gets the backend at the inventory's advertised address, and no labHost", async (t) => {
  t.same(boardConfig(emulated, '192.0.2.2'), {
    uuid: 'u1',
    apiEndpoint: 'http://192.0.2.2:41001',
    registryEndpoint: 'http://192.0.2.2:41002',
    fallbackRegistryEndpoint: 'https://registry.example:5000',
    deltaEndpoint: 'http://192.0.2.2:41004/deltas',
  });
});

t.test('without an advertised address the endpoints stay at the lab host address (stand-in boards)', async (t) => {
  const { labHost: _, ...rest } = emulated;
  t.same(boardConfig(emulated, undefined), rest);
});
