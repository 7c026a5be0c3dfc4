/* An interrupt line for device unit tests: records every level the device
 * drives, and counts redundant sets (a device should only report changes).
 * Zero-initialised is ready to use. */
#ifndef VMM_TEST_IRQ_H
#define VMM_TEST_IRQ_H

#include "hw/bus.h"

typedef struct {
    VmmIrq irq;
    GMutex lock;              /* devices may drive the line from several threads */
    int level;
    unsigned rises, falls, redundant;
} TestIrq;

static inline void test_irq_set(VmmIrq *irq, int level)
{
    TestIrq *t = irq->opaque;
    g_mutex_lock(&t->lock);
    if (!!level == !!t->level)
        t->redundant++;
    else if (level)
        t->rises++;
    else
        t->falls++;
    t->level = !!level;
    g_mutex_unlock(&t->lock);
}

#endif
