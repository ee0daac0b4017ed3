/*
 * cfi-flash: writes a firmware image into a memory-mapped CFI NOR flash (Intel/Sharp command
 * set), the way a board's boot flash is rewritten from Linux. The advanced update (takeover) uses
 * it for the JetPack 5 boot firmware: on the emulated Jetson that flash is QEMU's pflash bank 0,
 * whose contents persist in the device's firmware-flash.fd, so the next power-on runs what was
 * written here, as a board runs what was written to its QSPI.
 *
 * Why C and not the TypeScript the rest of the updater is in: the flash is reached by mmap of
 * /dev/mem (the kernels we boot have no MTD CFI driver), and Node has no mmap; busybox devmem
 * would take one process per 32-bit word. Built static by the harness (aarch64-linux-gnu-gcc),
 * so it runs from the RAM filesystem after the disk is gone.
 *
 * usage: cfi-flash PHYS_BASE BANK_BYTES IMAGE      (numbers in C notation: 0x0, 0x4000000)
 * Erases only the blocks the image covers, programs it word by word, reads it all back.
 * Exit 0 when the flash holds the image; 1 with one line on stderr naming what failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The bus is 32 bits wide (QEMU virt: two x16 chips side by side); a command goes to both. */
#define CMD(c) ((uint32_t)(c) | ((uint32_t)(c) << 16))
#define STATUS_READY 0x80u
#define STATUS_ERRORS 0x3au /* erase, program, voltage, lock errors */

static volatile uint32_t *flash;

static int fail(const char *what) {
	fprintf(stderr, "cfi-flash: %s\n", what);
	return 1;
}

static uint32_t wait_ready(size_t word) {
	for (long spins = 0; spins < 100000000L; spins++) {
		uint32_t s = flash[word];
		if ((s & STATUS_READY) && (s >> 16 & STATUS_READY)) return s & 0xffu;
	}
	return 0xffu; /* never ready: reported as an error */
}

int main(int argc, char **argv) {
	if (argc != 4) return fail("usage: cfi-flash PHYS_BASE BANK_BYTES IMAGE");
	unsigned long base = strtoul(argv[1], NULL, 0);
	size_t bank = strtoul(argv[2], NULL, 0);
	if (bank == 0 || bank % 4) return fail("BANK_BYTES must be a non-zero multiple of 4");

	int img = open(argv[3], O_RDONLY);
	struct stat st;
	if (img < 0 || fstat(img, &st) < 0) return fail("cannot read the image file");
	size_t size = (size_t)st.st_size;
	if (size == 0 || size > bank) return fail("the image is empty or larger than the flash bank");
	uint8_t *data = calloc(1, size + 4);
	for (size_t got = 0; got < size;) {
		ssize_t n = read(img, data + got, size - got);
		if (n <= 0) return fail("short read of the image file");
		got += (size_t)n;
	}

	int mem = open("/dev/mem", O_RDWR | O_SYNC);
	if (mem < 0) return fail("cannot open /dev/mem (needs root)");
	flash = mmap(NULL, bank, PROT_READ | PROT_WRITE, MAP_SHARED, mem, (off_t)base);
	if (flash == MAP_FAILED) return fail("cannot map the flash through /dev/mem");

	/* CFI query: "QRY" at word 0x10, erase block size (in 256-byte units) at words 0x2f-0x30. */
	flash[0x55] = CMD(0x98);
	if ((flash[0x10] & 0xff) != 'Q' || (flash[0x11] & 0xff) != 'R' || (flash[0x12] & 0xff) != 'Y') {
		flash[0] = CMD(0xff);
		return fail("no CFI flash answers at that address");
	}
	/* Per chip; two chips side by side make a block twice as wide. */
	size_t block = (size_t)((flash[0x2f] & 0xff) | (flash[0x30] & 0xff) << 8) * 256 * 2;
	flash[0] = CMD(0xff);
	if (block == 0 || bank % block) return fail("the flash reports an erase block size that does not divide the bank");

	size_t words = (size + 3) / 4;
	for (size_t off = 0; off < size; off += block) {
		size_t w = off / 4;
		flash[w] = CMD(0x50); /* clear status */
		flash[w] = CMD(0x60); /* unlock the block */
		flash[w] = CMD(0xd0);
		flash[w] = CMD(0x20); /* erase */
		flash[w] = CMD(0xd0);
		uint32_t s = wait_ready(w);
		flash[w] = CMD(0xff);
		if (s & STATUS_ERRORS) {
			fprintf(stderr, "cfi-flash: erase of the block at 0x%zx failed (status 0x%02x)\n", off, s);
			return 1;
		}
	}
	for (size_t w = 0; w < words; w++) {
		uint32_t v;
		memcpy(&v, data + w * 4, 4);
		if (v == 0xffffffffu) continue; /* erased already */
		flash[w] = CMD(0x40);
		flash[w] = v;
		uint32_t s = wait_ready(w);
		if (s & STATUS_ERRORS) {
			flash[w] = CMD(0x50);
			flash[w] = CMD(0xff);
			fprintf(stderr, "cfi-flash: programming the word at 0x%zx failed (status 0x%02x)\n", w * 4, s);
			return 1;
		}
	}
	flash[0] = CMD(0xff);
	for (size_t w = 0; w < words; w++) {
		uint32_t v;
		memcpy(&v, data + w * 4, 4);
		if (flash[w] != v) {
			fprintf(stderr, "cfi-flash: verify failed at 0x%zx: wrote 0x%08x, read 0x%08x\n", w * 4, v, flash[w]);
			return 1;
		}
	}
	printf("cfi-flash: %zu bytes written at 0x%lx and verified (erase blocks of %zu KiB)\n", size, base, block / 1024);
	return 0;
}
