/**
 * Console markers printed by the device's boot chain. The harness's board state machine and the
 * fault injectors key on these exact strings, so they are defined once, here, and the on-device
 * files (grub.cfg, initramfs init, rc scripts) are generated or checked against them.
 */
export const MARKERS = {
  /** Printed by GRUB's grub.cfg just before it loads the kernel; followed by the root label. */
  bootloaderBooting: '[huplab] bootloader: booting ',
  /** Printed by the initramfs once it has mounted the root; followed by the root label. */
  initramfsRoot: '[huplab] initramfs: root ',
  /** Printed by the init scripts when every service is started (SSH is listening). */
  osReady: '[huplab] os ready',
  /** Printed by the init scripts as the system goes down for reboot or power-off. */
  shuttingDown: '[huplab] shutting down',
} as const;

/** Strings that only firmware prints, used to tell "powered on" from "firmware running". */
export const FIRMWARE_HINTS = ['BdsDxe', 'UEFI', 'U-Boot', 'Welcome to GRUB', 'GNU GRUB'] as const;
