# huplab U-Boot boot logic (a boot file: HUP replaces it with the new OS's boot.scr), written
# against ${devtype} ${devnum}:${distro_bootpart}, which U-Boot's distro boot sets before it runs
# this script, so one script serves the SD card (Raspberry Pi) and virtio (Jetson stand-in).
# resinOS_uEnv.txt holds resin_root_part (the root's partition number, hex as U-Boot reads it)
# and upgrade_available; bootcount.env holds bootcount. While an update is pending every boot is
# counted; above os_bc_lim the new root has failed to commit that many times, so the other (old)
# root is booted, without saving the choice: rollback-altboot restores the env from userspace.
setenv resin_root_part @@ROOT_A@@
setenv upgrade_available 0
setenv bootcount 0
setenv os_bc_lim @@LIMIT@@
setenv bootpart ${devnum}:${distro_bootpart}
if load ${devtype} ${bootpart} ${scriptaddr} /resinOS_uEnv.txt; then env import -t ${scriptaddr} ${filesize}; fi
if load ${devtype} ${bootpart} ${scriptaddr} /bootcount.env; then env import -t ${scriptaddr} ${filesize} bootcount; fi
if test "${upgrade_available}" = "1"; then
	setexpr bootcount ${bootcount} + 1
	env export -t ${scriptaddr} bootcount
	fatwrite ${devtype} ${bootpart} ${scriptaddr} /bootcount.env ${filesize}
fi
if test "${resin_root_part}" = "@@ROOT_B@@"; then
	setenv boot_label @@ROOT_B_LABEL@@; setenv boot_part @@ROOT_B@@; setenv other_label @@ROOT_A_LABEL@@; setenv other_part @@ROOT_A@@
else
	setenv boot_label @@ROOT_A_LABEL@@; setenv boot_part @@ROOT_A@@; setenv other_label @@ROOT_B_LABEL@@; setenv other_part @@ROOT_B@@
fi
if test "${upgrade_available}" = "1" && test ${bootcount} -gt ${os_bc_lim}; then
	setenv swap_label ${boot_label}; setenv swap_part ${boot_part}
	setenv boot_label ${other_label}; setenv boot_part ${other_part}
	setenv other_label ${swap_label}; setenv other_part ${swap_part}
fi
# Before the env line: U-Boot's load prints a line, and the harness reads the env line and the
# "booting" line as a pair.
setenv fdt_file @@FDT_FILE@@
if test -n "${fdt_file}" && load ${devtype} ${bootpart} ${fdt_addr_r} /${fdt_file}; then setenv fdt ${fdt_addr_r}; else setenv fdt ${fdtcontroladdr}; fi
echo "[huplab] bootloader: env resin_root_part=${resin_root_part} upgrade_available=${upgrade_available} bootcount=${bootcount}"
# booti unpacks a gzip kernel through kernel_comp_addr_r; 128 MiB above kernel_addr_r is free
# RAM on both boards (the ramdisk and the device tree sit below it on the Pi, above on virt).
setexpr kernel_comp_addr_r ${kernel_addr_r} + 0x8000000
setenv kernel_comp_size 0x2000000
echo "[huplab] bootloader: booting ${boot_label}"
setenv bootargs "root=LABEL=${boot_label} ro panic=5 @@CMDLINE@@"
if load ${devtype} ${devnum}:${boot_part} ${ramdisk_addr_r} /boot/initrd.img; then
	setenv rd_size ${filesize}
	if load ${devtype} ${devnum}:${boot_part} ${kernel_addr_r} /boot/vmlinuz; then booti ${kernel_addr_r} ${ramdisk_addr_r}:${rd_size} ${fdt}; fi
fi
echo "[huplab] bootloader: ${boot_label} is not bootable"
echo "[huplab] bootloader: booting ${other_label}"
setenv bootargs "root=LABEL=${other_label} ro panic=5 @@CMDLINE@@"
if load ${devtype} ${devnum}:${other_part} ${ramdisk_addr_r} /boot/initrd.img; then
	setenv rd_size ${filesize}
	if load ${devtype} ${devnum}:${other_part} ${kernel_addr_r} /boot/vmlinuz; then booti ${kernel_addr_r} ${ramdisk_addr_r}:${rd_size} ${fdt}; fi
fi
echo "[huplab] bootloader: ${other_label} is not bootable"
echo "[huplab] bootloader: no bootable root; resetting"
sleep 5
reset
