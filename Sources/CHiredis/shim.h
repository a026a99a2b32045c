#ifndef STRATA_CHIREDIS_SHIM_H
#define STRATA_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
