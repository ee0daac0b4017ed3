import { faultsOf } from '../harness/faults/index.ts';
import { faultSuite } from './hup-helpers.ts';

// Refusals, a damaged boot partition, the network and the servers failing.
faultSuite('faults', faultsOf('faults'));
