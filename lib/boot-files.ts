/**
 * Which boot partition files belong to the OS and which to the device. An OS ships its boot files
 * inside its root filesystem (BOOT_FILES_DIR); an update copies them onto the boot partition,
 * except the device's own configuration and state, which are never replaced (KEPT_BACK, the
 * field's list plus the env files) or only created when absent (COPY_IF_ABSENT).
 */
export const BOOT_FILES_DIR = '/usr/share/huplab/boot-files';
export const KEPT_BACK = [
  '/config.json',
  '/config.txt',
  '/splash/balena-logo.png',
  '/configfs.json',
  '/hw_intfc.conf',
  '/bootenv',
  '/EFI/BOOT/grubenv',
  '/resinOS_uEnv.txt',
  '/bootcount.env',
];
/**
 * Files the bootloader reads in place to choose a root: whatever is in place decided the boot,
 * so an interrupted write of one is dropped, not finished (lib/fat/atomic-write.ts keepInPlace).
 */
export const BOOTLOADER_ENV_FILES = ['/EFI/BOOT/grubenv', '/resinOS_uEnv.txt', '/bootcount.env'];
export const COPY_IF_ABSENT = ['/extra_uEnv.txt', '/grub/grub_extraenv', '/EFI/BOOT/grub_extraenv'];
