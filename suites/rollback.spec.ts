import { faultsOf } from '../harness/faults/index.ts';
import { faultSuite } from './hup-helpers.ts';

// Rollbacks on generic-amd64: a new OS that fails its health check, and one that cannot boot.
faultSuite('rollback', faultsOf('rollback'));
