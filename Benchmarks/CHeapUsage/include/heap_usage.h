#ifndef KAKUNIN_HEAP_USAGE_H
#define KAKUNIN_HEAP_USAGE_H
#include <stddef.h>
/// Bytes currently allocated by malloc (glibc mallinfo2().uordblks).
size_t kakunin_heap_in_use(void);
#endif
