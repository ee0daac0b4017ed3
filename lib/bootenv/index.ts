/**
 * Bootloader envs for every device kind (grub-efi, u-boot, uefi-launcher): the description a
 * device carries, the text env codec, and the mapping between the logical env and the files.
 * Pure (no filesystem access), so the updater, the harness and the tests share it.
 */
export * from './description.ts';
export * from './uenv.ts';
export * from './codec.ts';
export { bootloaderDescription, type BootloaderProfile } from './from-profile.ts';
