#ifndef MALLOC_STATS_SHIM_H
#define MALLOC_STATS_SHIM_H
#include <stddef.h>
/// Bytes currently allocated through malloc (glibc mallinfo2: in-use arena bytes + mmapped bytes).
size_t strata_heap_in_use(void);
#endif
