#include "strata_crc32c.h"

#include <string.h>

#if defined(__x86_64__)

int strata_crc32c_hardware_available(void) {
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t strata_crc32c_hardware_update(uint32_t crc, const void *data, size_t length) {
    const unsigned char *bytes = data;
    uint64_t state = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        state = __builtin_ia32_crc32di(state, word);
        bytes += 8;
        length -= 8;
    }
    uint32_t small = (uint32_t)state;
    while (length > 0) {
        small = __builtin_ia32_crc32qi(small, *bytes);
        bytes += 1;
        length -= 1;
    }
    return small;
}

#elif defined(__aarch64__)

#if defined(__APPLE__)
int strata_crc32c_hardware_available(void) { return 1; }   // every Apple arm64 CPU has CRC32
#elif defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
int strata_crc32c_hardware_available(void) {
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) ? 1 : 0;
}
#else
int strata_crc32c_hardware_available(void) { return 0; }
#endif

__attribute__((target("crc")))
uint32_t strata_crc32c_hardware_update(uint32_t crc, const void *data, size_t length) {
    const unsigned char *bytes = data;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        crc = __builtin_arm_crc32cd(crc, word);
        bytes += 8;
        length -= 8;
    }
    while (length > 0) {
        crc = __builtin_arm_crc32cb(crc, *bytes);
        bytes += 1;
        length -= 1;
    }
    return crc;
}

#else

int strata_crc32c_hardware_available(void) { return 0; }

uint32_t strata_crc32c_hardware_update(uint32_t crc, const void *data, size_t length) {
    (void)data;
    (void)length;
    return crc;   // never called: no instruction on this architecture
}

#endif
