/*
 * blkpg-part: tells the running kernel about one partition change on a disk that is in use, the
 * one thing the 1.x -> 2.x migration needs that a resinOS 1.x image lacks. The migration writes
 * the new partition table itself (lib/partition/migrate-1x.ts); the kernel cannot re-read a
 * whole table while the root on the same disk is mounted (BLKRRPART answers EBUSY), so each
 * change is made with BLKPG, as parted does: delete a partition, add one, or resize one in place
 * (the mounted root grows this way; its start never moves).
 *
 * usage: blkpg-part DISK del N
 *        blkpg-part DISK add N START_BYTES SIZE_BYTES
 *        blkpg-part DISK resize N START_BYTES SIZE_BYTES
 * Exit 0 on success; 1 with one line on stderr naming what failed; 2 on a usage error.
 * Deleting a partition the kernel does not have is not an error (ENXIO): a rerun after a power
 * cut finds some changes made already.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/blkpg.h>

static long long number(const char *s, const char *what) {
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "blkpg-part: %s is not a number: %s\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv) {
	if (argc < 4) {
		fprintf(stderr, "usage: blkpg-part DISK del N | add N START SIZE | resize N START SIZE\n");
		return 2;
	}
	const char *disk = argv[1], *verb = argv[2];
	struct blkpg_partition part;
	memset(&part, 0, sizeof part);
	part.pno = (int)number(argv[3], "N");
	int op;
	if (strcmp(verb, "del") == 0 && argc == 4) {
		op = BLKPG_DEL_PARTITION;
	} else if ((strcmp(verb, "add") == 0 || strcmp(verb, "resize") == 0) && argc == 6) {
		op = verb[0] == 'a' ? BLKPG_ADD_PARTITION : BLKPG_RESIZE_PARTITION;
		part.start = number(argv[4], "START");
		part.length = number(argv[5], "SIZE");
	} else {
		fprintf(stderr, "blkpg-part: unknown or incomplete command %s\n", verb);
		return 2;
	}
	int fd = open(disk, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "blkpg-part: cannot open %s: %s\n", disk, strerror(errno));
		return 1;
	}
	struct blkpg_ioctl_arg arg = { .op = op, .flags = 0, .datalen = sizeof part, .data = &part };
	if (ioctl(fd, BLKPG, &arg) != 0) {
		if (op == BLKPG_DEL_PARTITION && errno == ENXIO) return 0;
		fprintf(stderr, "blkpg-part: %s %s partition %d: %s\n", verb, disk, part.pno, strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}
