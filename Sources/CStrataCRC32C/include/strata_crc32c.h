#ifndef STRATA_CRC32C_H
#define STRATA_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC32C instruction (x86-64 SSE4.2, ARMv8 CRC), else 0.
int strata_crc32c_hardware_available(void);

/// Continues the CRC32C register `crc` (reflected, no pre/post inversion: the caller
/// starts from ~0 and inverts the result) over `length` bytes with the CPU instruction.
/// Only call it when strata_crc32c_hardware_available() returned 1.
uint32_t strata_crc32c_hardware_update(uint32_t crc, const void *data, size_t length);

#endif
