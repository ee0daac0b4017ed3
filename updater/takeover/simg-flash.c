/*
 * simg-flash: writes a disk from an Android sparse image read on stdin, or checks that a disk
 * holds one. The advanced update (takeover) flashes the whole disk with it from RAM.
 *
 * Why a sparse image and this tool: a disk image is mostly zeros (empty spare root, empty data
 * partition), and under emulation every byte a busybox tool touches costs (inflate and sha256
 * both run at 4-12 MB/s in a TCG guest, minutes for a 1 GiB disk). The sparse image carries the
 * zeros as FILL chunks, so only the real data is inflated, while every byte of the disk is still
 * written (a FILL chunk is written out, never skipped) and read back for the check.
 *
 * usage: gunzip -c image.simg.gz | simg-flash write DISK
 *        gunzip -c image.simg.gz | simg-flash verify DISK
 * Format (AOSP libsparse): a 28-byte header, then chunks with a 12-byte header each: RAW (data
 * follows), FILL (a 32-bit pattern follows), DONT_CARE (nothing follows; left as it is), CRC32
 * (4 bytes follow; not checked here: verify compares every byte instead).
 * Exit 0 on success; 1 with one line on stderr naming what failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#define SPARSE_MAGIC 0xed26ff3au
#define CHUNK_RAW 0xcac1
#define CHUNK_FILL 0xcac2
#define CHUNK_DONT_CARE 0xcac3
#define CHUNK_CRC32 0xcac4
#define IO_BYTES (1u << 20)

static int fail(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "simg-flash: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

static int read_exact(void *buf, size_t n) {
	for (size_t got = 0; got < n;) {
		ssize_t r = read(0, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -1;
		got += (size_t)r;
	}
	return 0;
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static int disk_io(int fd, int writing, void *buf, size_t n, off_t at) {
	for (size_t done = 0; done < n;) {
		ssize_t r = writing ? pwrite(fd, (char *)buf + done, n - done, at + (off_t)done) : pread(fd, (char *)buf + done, n - done, at + (off_t)done);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Writes `src` to the disk at `at`, or reads the disk there and compares it with `src`. */
static int apply(int fd, int writing, uint8_t *src, uint8_t *scratch, size_t n, off_t at, unsigned long long chunk) {
	unsigned long long pos = (unsigned long long)at;
	if (writing) {
		if (disk_io(fd, 1, src, n, at) < 0) return fail("writing the disk at byte %llu failed (errno %llu)", pos, (unsigned long long)errno);
		return 0;
	}
	if (disk_io(fd, 0, scratch, n, at) < 0) return fail("reading the disk at byte %llu failed (errno %llu)", pos, (unsigned long long)errno);
	if (memcmp(src, scratch, n)) return fail("the disk differs from the image in the MiB at byte %llu (chunk %llu)", pos, chunk);
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 3 || (strcmp(argv[1], "write") && strcmp(argv[1], "verify"))) {
		fprintf(stderr, "simg-flash: usage: simg-flash write|verify DISK < image.simg\n");
		return 1;
	}
	int writing = !strcmp(argv[1], "write");
	int fd = open(argv[2], writing ? O_WRONLY : O_RDONLY);
	if (fd < 0) return fail("cannot open the disk (errno %llu)", (unsigned long long)errno);
	unsigned long long disk_bytes = 0;
	if (ioctl(fd, BLKGETSIZE64, &disk_bytes) < 0) {
		struct stat st;
		if (fstat(fd, &st) < 0) return fail("cannot tell the disk's size", 0ULL);
		disk_bytes = (unsigned long long)st.st_size;
	}
	if (!writing) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* read what is on the disk, not the cache */

	uint8_t h[28];
	if (read_exact(h, sizeof h) < 0) return fail("the image is shorter than a sparse header", 0ULL);
	if (le32(h) != SPARSE_MAGIC || le16(h + 4) != 1) return fail("not an Android sparse image (magic 0x%llx, version %llu)", (unsigned long long)le32(h), (unsigned long long)le16(h + 4));
	unsigned hdr = le16(h + 8), chdr = le16(h + 10);
	unsigned long long blk = le32(h + 12), total = le32(h + 16), chunks = le32(h + 20);
	if (hdr < 28 || chdr < 12 || blk == 0 || blk % 4) return fail("a sparse header with sizes this tool does not read (block %llu, chunk header %llu)", blk, (unsigned long long)chdr);
	if (total * blk > disk_bytes) return fail("the image is %llu bytes but the disk holds %llu", total * blk, disk_bytes);
	uint8_t skip[64];
	if (hdr > 28 && read_exact(skip, hdr - 28) < 0) return fail("truncated header", 0ULL);

	uint8_t *buf = malloc(IO_BYTES), *disk = malloc(IO_BYTES), *pattern = malloc(IO_BYTES);
	if (!buf || !disk || !pattern) return fail("out of memory", 0ULL);
	unsigned long long block = 0, written = 0;
	for (unsigned long long c = 0; c < chunks; c++) {
		uint8_t ch[12];
		if (read_exact(ch, 12) < 0) return fail("the image ends inside chunk %llu of %llu", c, chunks);
		if (chdr > 12 && read_exact(skip, chdr - 12) < 0) return fail("truncated chunk header %llu", c);
		unsigned type = le16(ch);
		unsigned long long n = le32(ch + 4), bytes = n * blk;
		if (block + n > total) return fail("chunk %llu runs past the image's %llu blocks", c, total);
		off_t at = (off_t)(block * blk);
		if (type == CHUNK_RAW) {
			for (unsigned long long done = 0; done < bytes;) {
				size_t step = bytes - done < IO_BYTES ? (size_t)(bytes - done) : IO_BYTES;
				if (read_exact(buf, step) < 0) return fail("the image ends inside the data of chunk %llu", c);
				if (apply(fd, writing, buf, disk, step, at + (off_t)done, c)) return 1;
				done += step;
			}
		} else if (type == CHUNK_FILL) {
			uint8_t v[4];
			if (read_exact(v, 4) < 0) return fail("truncated fill chunk %llu", c);
			for (size_t i = 0; i < IO_BYTES; i += 4) memcpy(pattern + i, v, 4);
			for (unsigned long long done = 0; done < bytes;) {
				size_t step = bytes - done < IO_BYTES ? (size_t)(bytes - done) : IO_BYTES;
				if (apply(fd, writing, pattern, disk, step, at + (off_t)done, c)) return 1;
				done += step;
			}
		} else if (type == CHUNK_CRC32) {
			if (read_exact(skip, 4) < 0) return fail("truncated crc chunk %llu", c);
			continue; /* covers no blocks */
		} else if (type != CHUNK_DONT_CARE) {
			return fail("unknown chunk type 0x%llx (chunk %llu)", (unsigned long long)type, c);
		}
		block += n;
		if (type != CHUNK_DONT_CARE) written += bytes;
	}
	if (block != total) return fail("the chunks cover %llu blocks, the header says %llu", block, total);
	if (writing && fsync(fd) < 0) return fail("flushing the disk failed (errno %llu)", (unsigned long long)errno);
	printf("simg-flash: %s %llu bytes of %llu (%llu chunks)\n", writing ? "wrote" : "verified", written, total * blk, chunks);
	return 0;
}
