/* Shared level-triggered lines (src/vmm/irq.c): the line is the OR of its
 * sources. COM1/COM3 on GSI 4 and PCI slots on INTA-INTD depend on it. */
#include "vmm/irq.h"
#include "test-irq.h"

typedef struct {
    TestIrq out;
    VmmIrqLine line;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    (void)data;
    f->out.irq = (VmmIrq){ .set = test_irq_set, .opaque = &f->out, .gsi = 4 };
    vmm_irq_line_init(&f->line, &f->out.irq);
}

static void teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    vmm_irq_line_clear(&f->line);
}

/* One source lowering its request must not lower the line while another
 * still holds it (a write to COM3's IER must not eat COM1's interrupt). */
static void test_or(Fixture *f, gconstpointer data)
{
    (void)data;
    VmmIrq *com1 = vmm_irq_line_source(&f->line, NULL);
    VmmIrq *com3 = vmm_irq_line_source(&f->line, NULL);
    g_assert_nonnull(com1);
    g_assert_nonnull(com3);
    g_assert_true(com1 != com3);
    g_assert_cmpuint(com1->gsi, ==, 4);

    vmm_irq_set(com1, 1);
    g_assert_cmpint(f->out.level, ==, 1);
    vmm_irq_set(com3, 1);
    vmm_irq_set(com3, 0);
    g_assert_cmpint(f->out.level, ==, 1);
    vmm_irq_set(com1, 0);
    g_assert_cmpint(f->out.level, ==, 0);
    /* The irqchip sees one rise and one fall, nothing in between. */
    g_assert_cmpuint(f->out.rises, ==, 1);
    g_assert_cmpuint(f->out.falls, ==, 1);
    g_assert_cmpuint(f->out.redundant, ==, 0);

    /* A source repeating its level changes nothing. */
    vmm_irq_set(com3, 0);
    g_assert_cmpuint(f->out.redundant, ==, 0);
}

static void test_full(Fixture *f, gconstpointer data)
{
    (void)data;
    for (unsigned i = 0; i < VMM_IRQ_LINE_MAX_SOURCES; i++)
        g_assert_nonnull(vmm_irq_line_source(&f->line, NULL));
    g_autoptr(GError) err = NULL;
    g_assert_null(vmm_irq_line_source(&f->line, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "GSI 4"));
    /* The last source still works. */
    vmm_irq_set(&f->line.src[VMM_IRQ_LINE_MAX_SOURCES - 1], 1);
    g_assert_cmpint(f->out.level, ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/irq-line/or", Fixture, NULL, setup, test_or, teardown);
    g_test_add("/irq-line/full", Fixture, NULL, setup, test_full, teardown);
    return g_test_run();
}
