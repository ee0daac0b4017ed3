import type { QemuProfile } from '../../harness/qemu/profile.ts';

/** A minimal x86_64 q35 + OVMF machine for driver tests, without going through a profile file. */
export function q35Profile(memoryMiB = 1024): QemuProfile {
  return {
    console: { device: 'ttyS0' },
    qemu: {
      binary: 'qemu-system-x86_64',
      machine: 'q35',
      cpu: 'qemu64',
      memoryMiB,
      smp: 1,
      firmware: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
      disk: { interface: 'virtio' },
      net: { device: 'virtio-net-pci' },
      serialIndex: 0,
      extraArgs: [],
    },
  };
}
