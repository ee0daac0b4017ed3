/**
 * The part of a device profile (lib/profile.ts, devices/*.json) that the QEMU driver reads,
 * declared structurally so that the driver depends on the fields it uses and nothing else.
 */
export interface QemuFirmware {
  /** Firmware code image (e.g. OVMF_CODE_4M.fd), mapped read-only unless writableFlash. */
  code: string;
  /** Template of the variable store; each device gets its own copy. */
  vars?: string;
  /** The code flash is the board's boot flash and the guest may rewrite it (Jetson QSPI):
   *  each device then gets its own writable copy of `code` too. */
  writableFlash?: boolean;
  /** 'kernel': the firmware is booted with -kernel (raspi3b U-Boot); default 'pflash'. */
  loadAs?: 'pflash' | 'kernel';
}

export interface QemuProfileQemu {
  binary: string;
  machine: string;
  cpu: string;
  memoryMiB: number;
  smp: number;
  firmware?: QemuFirmware;
  disk: { interface: 'virtio' | 'sd' | 'nvme' };
  net: { device: string };
  /** Which of the machine's serial ports is the console (raspi3b U-Boot: 1, the mini UART). */
  serialIndex: number;
  extraArgs: string[];
  dtb?: string;
  /** TCG threading; 'single' for raspi3b, where multi-threaded TCG is 3x slower. */
  tcgThread?: 'single' | 'multi';
}

export interface QemuProfile {
  qemu: QemuProfileQemu;
  console: { device: string };
}
