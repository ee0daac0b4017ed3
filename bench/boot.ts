import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLab } from '../harness/lab.ts';
import { median, seconds, table } from './stats.ts';
import { startEmulated } from '../harness/device/emulated.ts';

/**
 * Boot time of generic-amd64 from QEMU start to the first serial line and to SSH ready, over
 * several fresh devices booted one after the other in one run; the ratio shows how much of the
 * boot is firmware + GRUB (before the kernel) and how much is the OS.
 */
export async function benchBoot(runs = Number(process.env.BENCH_BOOT_RUNS ?? 3)): Promise<string> {
  const lab = openLab(mkdtempSync(join(tmpdir(), 'huplab-bench-boot-')));
  const samples: Array<Record<string, number>> = [];
  let accel = '';
  try {
    for (let i = 0; i < runs; i++) {
      const s = await startEmulated({ lab, device: 'generic-amd64', release: '2.101.0', name: `boot${i}` });
      accel = s.device.accel ?? '';
      samples.push(s.timings);
      await s.device.powerCut();
      s.device.close();
    }
  } finally {
    rmSync(lab.dir, { recursive: true, force: true });
  }
  const stages = ['firstSerialByte', 'bootloader', 'initramfs', 'osReady', 'sshReady'] as const;
  const med = Object.fromEntries(stages.map((k) => [k, median(samples.map((s) => s[k] ?? NaN))])) as Record<
    (typeof stages)[number],
    number
  >;
  const rows = [['stage (from QEMU start)', ...samples.map((_, i) => `run ${i + 1}`), 'median']];
  for (const k of stages) rows.push([k, ...samples.map((s) => seconds(s[k])), seconds(med[k])]);
  return [
    `## Boot time, generic-amd64 (${accel}, ${runs} fresh devices, one after the other)`,
    table(rows),
    `ratio SSH ready / first serial line: ${(med.sshReady / med.firstSerialByte).toFixed(2)}`,
    `share of the boot before the kernel (OVMF + GRUB): ${((med.bootloader / med.sshReady) * 100).toFixed(0)} %`,
  ].join('\n');
}
