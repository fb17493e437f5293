#ifndef KAKUNIN_CLIBPQ_SHIM_H
#define KAKUNIN_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
