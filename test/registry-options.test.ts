import t from 'tap';
import { externalRegistryInputFromEnv, resolveExternalRegistry } from '../harness/backend/external-registry.ts';
import { registryEnv, registryInput } from '../harness/cli/registry-options.ts';

const given = {
  registry: 'http://127.0.0.1:5000',
  registryFallback: 'http://127.0.0.1:5001',
  registryRepository: 'lab/os',
  registryCreds: 'lab:pw',
};

t.test('options to variables and back: what qualify hands its suites is what they read', async (t) => {
  const env = registryEnv(given);
  t.same(env, {
    HUPLAB_REGISTRY: 'http://127.0.0.1:5000',
    HUPLAB_REGISTRY_FALLBACK: 'http://127.0.0.1:5001',
    HUPLAB_REGISTRY_REPOSITORY: 'lab/os',
    HUPLAB_REGISTRY_CREDS: 'lab:pw',
  });
  t.same(externalRegistryInputFromEnv(env), given);
  t.same(registryInput({ ...given, registryCa: undefined }), given, 'undefined options are left out');
});

t.test('the command line wins over the variables', async (t) => {
  const r = await resolveExternalRegistry(
    { registry: 'http://127.0.0.1:6000' },
    { HUPLAB_REGISTRY: 'http://127.0.0.1:5000', HUPLAB_REGISTRY_CREDS: 'a:b' },
  );
  t.same(r, { url: 'http://127.0.0.1:6000', credentials: { username: 'a', password: 'b' } });
  t.equal(await resolveExternalRegistry({}, {}), undefined, 'no registry: the built-in ones');
});
