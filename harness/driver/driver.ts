/**
 * The one interface through which the harness reaches a device, emulated (QemuDevice) or real
 * (a board on a serial adapter with switchable power). Suites, fault injectors and the CLI are
 * written against this, never against QEMU.
 */
import type { Profile } from '../../lib/profile.ts';
import type { SerialConsole } from '../console/log-console.ts';
import type { DeviceSsh } from '../ssh/client.ts';
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

export interface PowerCutOptions {
  keep?: 'none' | 'random';
  seed?: number;
}
export interface PowerCutResult {
  lostBlocks: number;
  keptBlocks: number;
}

export interface DeviceDriver {
  readonly name: string;
  readonly state: BoardStateMachine;
  /** The console log, expect-able and writable, the same for a QEMU chardev and a serial adapter. */
  readonly console: SerialConsole;
  /** The device's state folder (logs collected by suites go under it) and its console log. */
  readonly paths: { readonly dir: string; readonly serialLog: string; readonly serialSock: string };
  powerOn(): Promise<void>;
  powerOff(opts?: PowerOffOptions): Promise<void>;
  /**
   * Power lost with no warning: whatever the OS had not written is gone. An emulated disk with a
   * volatile cache also loses what was not flushed, and says how much (undefined otherwise).
   */
  powerCut(opts?: PowerCutOptions): Promise<PowerCutResult | undefined>;
  /** Hardware reset (the reset line), no shutdown. */
  reset(): Promise<void>;
  /** Follows the console through firmware -> kernel -> os-ready, then waits for SSH. */
  waitForOs(opts?: WaitForOsOptions): Promise<void>;
  ssh(): Promise<DeviceSsh>;
  /** Bring the board to a known state whatever happened before; clears a failure. */
  force(state: 'off' | 'os-ready'): Promise<void>;
  /** Unplug (false) or replug (true) the device's network, for network faults. */
  setNetworkLink(up: boolean): Promise<void>;
  /**
   * The OS has rewritten the board's boot flash and is about to reboot: the reset that follows
   * must run what the flash holds now. A real board's boot ROM reads the flash at every reset;
   * an emulator may keep the old firmware's translated code across a warm reset (QEMU TCG does:
   * measured, the CPU spins at an exception vector), so its driver starts the machine afresh.
   */
  expectFirmwareReload(): void;
  /**
   * After an advanced update the board runs another profile's OS line (JetPack 4 -> 5, a Pi's
   * 32 -> 64-bit OS): the same hardware, so the driver checks that and carries on with it.
   */
  adoptProfile(profile: Profile): Promise<void>;
  /** Let go of the device's connections (console, SSH); the device itself keeps its state. */
  close(): void | Promise<void>;
}
