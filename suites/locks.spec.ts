import { faultsOf } from '../harness/faults/index.ts';
import { faultSuite } from './hup-helpers.ts';

// Update locks: an exclusive lock holds the reboot back, a shared one does not, the override ends the wait.
faultSuite('locks', faultsOf('locks'));
