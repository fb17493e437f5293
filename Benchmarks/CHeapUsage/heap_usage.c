#include "heap_usage.h"
#include <malloc.h>

size_t kakunin_heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks;
}
