/* What the kit's ATA drivers (test_ide.c over the PIIX3, test_ahci.c over
 * AHCI) share: IDENTIFY fields and the data pattern the host side checks. */
#ifndef GK_ATA_H
#define GK_ATA_H

#include "lib.h"

/* IDENTIFY's model string (words 27-46, high byte first), NUL-ended. */
static inline void ata_id_model(const u16 *id, char model[41])
{
	for (int i = 0; i < 20; i++) {
		model[2 * i] = (char)(id[27 + i] >> 8);
		model[2 * i + 1] = (char)id[27 + i];
	}
	model[40] = 0;
}

static inline u64 ata_id_sectors(const u16 *id)
{
	return id[100] | (u64)id[101] << 16 | (u64)id[102] << 32 | (u64)id[103] << 48;
}

/* Word i of a buffer written with `tag` (the integration tests recompute it). */
static inline void ata_fill(u8 *p, u32 bytes, u32 tag)
{
	for (u32 i = 0; i < bytes / 4; i++)
		((u32 *)p)[i] = tag * 0x9e3779b9u ^ i * 0x85ebca6bu;
}

#endif
