/**
 * The one interface through which the harness reaches a device, emulated (QemuDevice) or real
 * (a board on a serial adapter with switchable power). Suites, fault injectors and the CLI are
 * written against this, never against QEMU.
 *
 * As labgrid splits protocols from drivers: the core below is what every driver has (console,
 * shell over SSH, power, a state machine); what only some devices can do is an optional
 * capability (capabilities.ts) that code asks for by name, never by the driver's class.
 */
import type { SerialConsole } from '../console/log-console.ts';
import type { DeviceSsh } from '../ssh/client.ts';
import type { Capabilities } from './capabilities.ts';
import type { BoardStateMachine } from './state.ts';

export interface PowerOffOptions {
  /** true (default): ask the OS to shut down (ACPI / poweroff) and wait; false: stop it now. */
  clean?: boolean;
  timeoutMs?: number;
}

export interface WaitForOsOptions {
  timeoutMs?: number;
  /**
   * Console offset (from `console.mark()`) taken before a reboot the caller triggered, e.g. over
   * SSH: the boot to wait for is the one after it, even if the state still says os-ready.
   */
  since?: number;
}

export interface DeviceDriver {
  readonly name: string;
  /** Which driver this is, for messages ("qemu", "board"). */
  readonly kind: string;
  readonly state: BoardStateMachine;
  /** The console log, expect-able and writable, the same for a QEMU chardev and a serial adapter. */
  readonly console: SerialConsole;
  /** The device's state folder (logs collected by suites go under it) and its console log. */
  readonly paths: { readonly dir: string; readonly serialLog: string; readonly serialSock: string };
  /** What this device can do beyond the core; ask with capability() or hasCapability(). */
  readonly capabilities: Partial<Capabilities>;
  powerOn(): Promise<void>;
  powerOff(opts?: PowerOffOptions): Promise<void>;
  /** Power lost with no warning: whatever the OS had not written is gone. */
  powerCut(): Promise<void>;
  /** Hardware reset (the reset line), no shutdown. */
  reset(): Promise<void>;
  /** Follows the console through firmware -> kernel -> os-ready, then waits for SSH. */
  waitForOs(opts?: WaitForOsOptions): Promise<void>;
  ssh(): Promise<DeviceSsh>;
  /** Bring the board to a known state whatever happened before; clears a failure. */
  force(state: 'off' | 'os-ready'): Promise<void>;
  /** Let go of the device's connections (console, SSH); the device itself keeps its state. */
  close(): void | Promise<void>;
}
