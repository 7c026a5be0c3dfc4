/* virtio-balloon end to end: the real vmm-worker runs the guest kit's
 * test=balloon in a 1 GiB VM. The guest touches ~900 MiB; the test sets the
 * target to 256 MiB through the worker's control socket (set-memory) and
 * checks that the worker's RSS (VmRSS, which counts the shared guest RAM
 * memfd) falls by at least 80% of the 768 MiB given back; then sets it
 * back to 1 GiB and checks the guest uses that memory again (RSS rises,
 * pages usable and fresh). Also: a target above <memory> and below the
 * floor are refused with a clear error, statistics arrive, and a guest
 * that sends page frames outside RAM, duplicates and bogus deflates and
 * stats tags (hostile=1) is ignored for those, counted, logged once. */
#include "harness.h"
#include "proto/proto.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT 600.0
#define MEM_MIB 1024
#define TARGET_MIB 256
#define GIVEN_MIB (MEM_MIB - TARGET_MIB)
#define REPORT_MIB 64   /* reported free before "ready": no target change */

typedef struct {
    char *sock;
    VmmProtoSync *ctl;
    int phase;                   /* 0 ready?, 1 inflating, 2 deflating, 3 done */
    int64_t rss0, rss1, rss2;    /* KiB: touched, ballooned, reused */
    char *err_above, *err_below;
    json_object *stats;          /* query-stats' balloon object while inflated */
} Drive;

static int64_t rss_kib(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return -1;
    const char *p = strstr(text, "\nVmRSS:");
    return p ? (int64_t)g_ascii_strtoll(p + 7, NULL, 10) : -1;
}

static json_object *call(Drive *d, const char *cmd, json_object *args, char **errmsg)
{
    g_autoptr(GError) e = NULL;
    json_object *r = vmm_proto_sync_call(d->ctl, cmd, args, &e);
    if (!r && errmsg)
        *errmsg = g_strdup(e->message);
    if (!r && !errmsg)
        g_test_message("%s failed: %s", cmd, e->message);
    return r;
}

static bool set_memory(Drive *d, int64_t kib, char **errmsg)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "size_kib", json_object_new_int64(kib));
    json_object *r = call(d, "set-memory", a, errmsg);
    bool ok = r != NULL;
    json_object_put(r);
    return ok;
}

static void on_report(Drive *d, json_object *o, GPid pid);

static gboolean on_line(const char *line, GPid pid, void *opaque)
{
    const char *j = strchr(line, '{');
    json_object *o = j ? json_tokener_parse(j) : NULL;
    if (o)
        on_report(opaque, o, pid);
    json_object_put(o);
    return TRUE;
}

static void on_report(Drive *d, json_object *o, GPid pid)
{
    json_object *v;
    if (!json_object_object_get_ex(o, "balloon", &v))
        return;
    const char *what = json_object_get_string(v);
    if (!strcmp(what, "ready") && d->phase == 0) {
        g_autoptr(GError) e = NULL;
        d->ctl = vmm_proto_sync_connect(d->sock, 10000, &e);
        if (!d->ctl) {
            g_test_message("control socket: %s", e->message);
            kill(pid, SIGKILL);
            return;
        }
        d->rss0 = rss_kib(pid);
        /* refusals first: nothing may change */
        set_memory(d, (int64_t)MEM_MIB * 1024 + 1, &d->err_above);
        set_memory(d, 1024, &d->err_below);
        d->phase = 1;
        if (!set_memory(d, TARGET_MIB * 1024, NULL))
            kill(pid, SIGKILL);
    } else if (!strcmp(what, "step") && d->phase == 1) {
        json_object_object_get_ex(o, "actual", &v);
        if (json_object_get_int64(v) != GIVEN_MIB * 256)
            return;
        d->rss1 = rss_kib(pid);
        json_object *st = call(d, "query-stats", NULL, NULL);
        json_object *b;
        if (st && json_object_object_get_ex(st, "balloon", &b))
            d->stats = json_object_get(b);
        json_object_put(st);
        d->phase = 2;
        if (!set_memory(d, MEM_MIB * 1024, NULL))
            kill(pid, SIGKILL);
    } else if (!strcmp(what, "reused") && d->phase == 2) {
        d->rss2 = rss_kib(pid);
        d->phase = 3;
        set_memory(d, MEM_MIB * 1024 - 4, NULL);   /* the guest's cue to end */
    }
}

static int64_t jint(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

static void test_inflate_deflate(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return;
    }
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain dom = {
        .memory_mib = MEM_MIB,
        .cmdline = "test=balloon touch_mib=900 step_mib=128 handshake=1 hostile=1 "
                   "report_mib=" G_STRINGIFY(REPORT_MIB),
        .extra_devices = "<memballoon model='virtio' autodeflate='on' freePageReporting='on'>"
                         "<stats period='1'/></memballoon>",
    };
    g_autofree char *xml = harness_write_domain(dir, &dom);
    Drive d = { .sock = g_build_filename(dir, "ctl.sock", NULL) };
    const char *const args[] = { "--control-socket", d.sock, NULL };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, args, TIMEOUT, on_line, &d);
    if (d.ctl)
        vmm_proto_sync_free(d.ctl);
    g_test_message("rss KiB: touched %" G_GINT64_FORMAT ", ballooned to %d MiB %"
                   G_GINT64_FORMAT ", reused %" G_GINT64_FORMAT, d.rss0, TARGET_MIB, d.rss1,
                   d.rss2);
    if (d.phase != 3)
        g_test_message("stdout:\n%s\nstderr:\n%s", r->out, r->err);
    g_assert_cmpint(d.phase, ==, 3);
    /* the host got at least 80% of the 768 MiB back, and gave it again */
    const int64_t need = (int64_t)GIVEN_MIB * 1024 * 8 / 10;
    g_assert_cmpint(d.rss0 - d.rss1, >=, need);
    g_assert_cmpint(d.rss2 - d.rss1, >=, need);
    /* free page reporting: "ready" came after the report, "reused" after
     * the guest wrote its whole pool again */
    g_assert_cmpint(d.rss2 - d.rss0, >=, (int64_t)REPORT_MIB * 1024 * 8 / 10);

    harness_assert_clean_stderr(r);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_autoptr(GPtrArray) reuse = harness_find(r, "check", "balloon_reuse");
    g_assert_cmpuint(reuse->len, ==, 1);
    g_autoptr(GPtrArray) fresh = harness_find(r, "check", "balloon_deflated_fresh");
    g_assert_cmpuint(fresh->len, ==, 1);

    /* refusals name the limit */
    g_assert_nonnull(d.err_above);
    g_assert_nonnull(strstr(d.err_above, "above the domain's maximum memory"));
    g_assert_nonnull(d.err_below);
    g_assert_nonnull(strstr(d.err_below, "below vmmd's floor"));

    /* host view while inflated: target, pages counted, stats from the guest */
    g_assert_nonnull(d.stats);
    g_test_message("balloon stats: %s", json_object_to_json_string(d.stats));
    g_assert_cmpint(jint(d.stats, "target_pages"), ==, GIVEN_MIB * 256);
    g_assert_cmpint(jint(d.stats, "inflated_pages"), ==, GIVEN_MIB * 256);
    g_assert_cmpint(jint(d.stats, "reported_pages"), ==, REPORT_MIB * 256);
    /* autodeflate='on' and freePageReporting='on' were offered and taken */
    g_autoptr(GPtrArray) init = harness_find(r, "check", "balloon_init");
    g_assert_cmpuint(init->len, ==, 1);
    json_object *fv = NULL;
    g_assert_true(json_object_object_get_ex(g_ptr_array_index(init, 0), "features", &fv));
    guint64 feat = g_ascii_strtoull(json_object_get_string(fv), NULL, 16);
    g_assert_true(feat & (1u << 2));    /* DEFLATE_ON_OOM */
    g_assert_true(feat & (1u << 5));    /* PAGE_REPORTING */
    /* the guest's hostile entries: 3 frames outside RAM, a double inflate,
     * a deflate of a page never given; and a stats tag virtio lacks */
    g_assert_cmpint(jint(d.stats, "refused_pfns"), ==, 5);
    g_assert_cmpint(jint(d.stats, "bad_stats"), >=, 1);
    /* each kind logged once */
    g_assert_nonnull(strstr(r->err, "which is not RAM; ignored"));
    g_assert_null(strstr(strstr(r->err, "which is not RAM; ignored") + 1,
                         "which is not RAM; ignored"));
    g_assert_nonnull(strstr(r->err, "inflated page frame"));
    g_assert_nonnull(strstr(r->err, "which is not in the balloon"));
    g_assert_nonnull(strstr(r->err, "statistic tag 48879"));
    g_assert_cmpint(jint(d.stats, "available"), >, 0);
    g_assert_cmpint(jint(d.stats, "last-update"), >, 0);
    g_assert_cmpint(jint(d.stats, "rss"), >, 0);
    json_object_put(d.stats);
    g_free(d.err_above);
    g_free(d.err_below);
    g_free(d.sock);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/balloon/inflate-deflate", test_inflate_deflate);
    return g_test_run();
}
