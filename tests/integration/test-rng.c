/* virtio-rng end to end on the real worker: the guest kit's test=rng with a
 * file backend under a rate limit (the guest never gets more than the limit
 * allows for the time it asked), with getrandom() and no limit, and the
 * backends vmm-worker must refuse with a one-line error naming the rng. */
#include "harness.h"

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT 60.0

static HarnessRun *run(const char *rng_xml, const char *cmdline)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .name = "rng", .cmdline = cmdline, .extra_devices = rng_xml };
    g_autofree char *xml = harness_write_domain(dir, &d);
    return harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
}

static void assert_passed(HarnessRun *r, const char *const *checks)
{
    harness_assert_clean_stderr(r);
    if (r->exit_status != 0 || harness_done_count(r, "failed") != 0)
        g_test_message("exit %d\nstdout:\n%s\nstderr:\n%s", r->exit_status, r->out, r->err);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    for (; *checks; checks++) {
        g_autoptr(GPtrArray) c = harness_find(r, "check", *checks);
        g_assert_cmpuint(c->len, ==, 1);
    }
}

static void test_random_rate(void)
{
    static const char *const checks[] = { "rng_init", "rng_bytes", "rng_rate", "rng_hostile",
                                          NULL };
    g_autoptr(HarnessRun) r = run("<rng model='virtio'><rate bytes='2048' period='500'/>"
                                  "<backend model='random'>/dev/urandom</backend></rng>",
                                  "test=rng rate=2048 period=500 secs=3");
    assert_passed(r, checks);
    /* The limit, judged by this process's clock (the guest's can run slow
     * on a loaded host): the whole run took r->seconds, so at most that
     * many 500 ms periods, plus the first, can have given 2048 bytes each.
     * Without the limit 3 s of 256-byte requests get megabytes. */
    g_autoptr(GPtrArray) rate = harness_find(r, "check", "rng_rate");
    json_object *bytes = NULL;
    g_assert_true(json_object_object_get_ex(rate->pdata[0], "bytes", &bytes));
    gint64 allowed = 2048 * ((gint64)(r->seconds * 2.0) + 2);
    g_test_message("rng: %" G_GINT64_FORMAT " bytes in a %.2f s run, the limit allows %"
                   G_GINT64_FORMAT, json_object_get_int64(bytes), r->seconds, allowed);
    g_assert_cmpint(json_object_get_int64(bytes), <=, allowed);
    g_assert_cmpint(json_object_get_int64(bytes), >, 0);
}

static void test_builtin(void)
{
    static const char *const checks[] = { "rng_init", "rng_bytes", "rng_rate", "rng_hostile",
                                          NULL };
    g_autoptr(HarnessRun) r = run("<rng model='virtio-non-transitional'>"
                                  "<backend model='builtin'/></rng>", "test=rng secs=1");
    assert_passed(r, checks);
}

static void test_refused(void)
{
    static const char *cases[][2] = {
        { "<rng model='virtio'><backend model='random'>/etc/hostname</backend></rng>",
          "rng 0: backend '/etc/hostname' is not a character device" },
        { "<rng model='virtio'><backend model='random'>/nonexistent/rng</backend></rng>",
          "rng 0: cannot open backend '/nonexistent/rng'" },
        { "<rng model='virtio'><backend model='egd' type='tcp'/></rng>", "egd" },
        { "<rng model='virtio'><rate bytes='0'/><backend model='builtin'/></rng>", "'bytes'='0'" },
        { "<rng model='virtio-transitional'><backend model='builtin'/></rng>",
          "virtio-transitional" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(HarnessRun) r = run(cases[i][0], "test=rng");
        harness_assert_clean_stderr(r);
        if (r->exit_status != 1 || !strstr(r->err, cases[i][1]))
            g_test_message("case %u: exit %d\nstderr:\n%s", i, r->exit_status, r->err);
        g_assert_cmpint(r->exit_status, ==, 1);
        g_assert_nonnull(strstr(r->err, cases[i][1]));
        /* One line: the error and nothing after it. */
        const char *nl = strchr(r->err, '\n');
        g_assert_true(nl == NULL || nl[1] == '\0');
    }
}

static void skip_no_kvm(void)
{
    g_test_skip("/dev/kvm is not accessible on this host");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_add_func("/rng/no-kvm", skip_no_kvm);
        return g_test_run();
    }
    g_test_add_func("/rng/random-rate", test_random_rate);
    g_test_add_func("/rng/builtin", test_builtin);
    g_test_add_func("/rng/refused", test_refused);
    return g_test_run();
}
