/* Unit tests for client/format.c: vmmctl must print what virsh prints. */
#include "client/format.h"

#include <string.h>

/* virsh -c test:///default list --all, byte for byte. */
static void test_table_virsh_list(void)
{
    g_autoptr(VmmctlTable) t = vmmctl_table_new("Id", "Name", "State", NULL);
    vmmctl_table_add_row(t, "1", "test", "running", NULL);
    vmmctl_table_add_row(t, "-", "foo", "shut off", NULL);
    g_autofree char *s = vmmctl_table_to_string(t, true);
    g_assert_cmpstr(s, ==,
                    " Id   Name   State\n"
                    "-----------------------\n"
                    " 1    test   running\n"
                    " -    foo    shut off\n");
}

static void test_table_empty_and_quiet(void)
{
    g_autoptr(VmmctlTable) t = vmmctl_table_new("Id", "Name", "State", NULL);
    g_autofree char *s = vmmctl_table_to_string(t, true);
    g_assert_cmpstr(s, ==, " Id   Name   State\n--------------------\n");
    vmmctl_table_add_row(t, "12", "a-long-name", "paused", NULL);
    g_autofree char *q = vmmctl_table_to_string(t, false);
    /* without the header the widths come from the rows only */
    g_assert_cmpstr(q, ==, " 12   a-long-name   paused\n");
}

static void test_table_control_chars(void)
{
    g_autoptr(VmmctlTable) t = vmmctl_table_new("Name", "State", NULL);
    vmmctl_table_add_row(t, "a\tb", "x", NULL);
    g_autofree char *s = vmmctl_table_to_string(t, true);
    g_assert_cmpstr(s, ==, " Name     State\n-----------------\n a\\x09b   x\n");
}

static void test_states(void)
{
    g_assert_cmpstr(vmmctl_state_to_string("running"), ==, "running");
    g_assert_cmpstr(vmmctl_state_to_string("shutoff"), ==, "shut off");
    g_assert_cmpstr(vmmctl_state_to_string("shutdown"), ==, "in shutdown");
    g_assert_cmpstr(vmmctl_state_to_string("paused"), ==, "paused");
    g_assert_cmpstr(vmmctl_state_to_string("crashed"), ==, "crashed");
    g_assert_cmpstr(vmmctl_state_to_string("blocked"), ==, "idle");
    g_assert_cmpstr(vmmctl_state_to_string("pmsuspended"), ==, "pmsuspended");
    g_assert_cmpstr(vmmctl_state_to_string(NULL), ==, "no state");
    g_assert_cmpstr(vmmctl_state_to_string("weird"), ==, "weird");
    g_assert_cmpstr(vmmctl_state_number_to_string(5), ==, "shut off");
    g_assert_cmpstr(vmmctl_state_number_to_string(99), ==, "no state");
    g_assert_cmpstr(vmmctl_state_number_to_string(-1), ==, "no state");
}

static void test_scaled(void)
{
    uint64_t b;
    g_assert_true(vmmctl_parse_scaled("1024", 1024, &b));
    g_assert_cmpuint(b, ==, 1024 * 1024);
    g_assert_true(vmmctl_parse_scaled("1G", 1024, &b));
    g_assert_cmpuint(b, ==, 1ULL << 30);
    g_assert_true(vmmctl_parse_scaled("512MiB", 1024, &b));
    g_assert_cmpuint(b, ==, 512ULL << 20);
    g_assert_true(vmmctl_parse_scaled("1GB", 1024, &b));
    g_assert_cmpuint(b, ==, 1000000000ULL);
    g_assert_true(vmmctl_parse_scaled("100b", 1024, &b));
    g_assert_cmpuint(b, ==, 100);
    g_assert_true(vmmctl_parse_scaled("4k", 1024, &b));
    g_assert_cmpuint(b, ==, 4096);
    g_assert_false(vmmctl_parse_scaled("", 1024, &b));
    g_assert_false(vmmctl_parse_scaled("1X", 1024, &b));
    g_assert_false(vmmctl_parse_scaled("-1", 1024, &b));
    g_assert_false(vmmctl_parse_scaled("1.5G", 1024, &b));
    g_assert_false(vmmctl_parse_scaled("G", 1024, &b));
    g_assert_false(vmmctl_parse_scaled("99999999999999999999", 1024, &b));
    g_assert_false(vmmctl_parse_scaled("18014398509481984", 1024, &b));   /* 2^54 KiB */
    g_assert_false(vmmctl_parse_scaled("16EiB", 1024, &b));
}

static void test_cpu_time(void)
{
    g_autofree char *a = vmmctl_format_cpu_time(1234567890);
    g_assert_cmpstr(a, ==, "1.2s");
    g_autofree char *z = vmmctl_format_cpu_time(0);
    g_assert_cmpstr(z, ==, "0.0s");
}

static void test_json_scalar(void)
{
    json_object *o = json_tokener_parse(
        "{\"i\": 42, \"n\": -3, \"big\": 18446744073709551615, \"s\": \"vda\","
        " \"t\": true, \"f\": false, \"d\": 1.5, \"z\": null}");
    g_assert_nonnull(o);
    static const struct { const char *key, *want; } cases[] = {
        { "i", "42" }, { "n", "-3" }, { "big", "18446744073709551615" }, { "s", "vda" },
        { "t", "yes" }, { "f", "no" }, { "d", "1.500000" }, { "z", "" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        json_object *v = NULL;
        json_object_object_get_ex(o, cases[i].key, &v);
        g_autofree char *s = vmmctl_json_scalar(v);
        g_assert_cmpstr(s, ==, cases[i].want);
    }
    json_object_put(o);
}

static void test_json_pretty(void)
{
    json_object *o = json_tokener_parse("{\"path\": \"/dev/pts/3\", \"n\": [1, 2]}");
    g_autofree char *s = vmmctl_json_pretty(o);
    g_assert_true(g_str_has_suffix(s, "}\n"));
    g_assert_nonnull(strstr(s, "\"/dev/pts/3\""));   /* no \/ escaping */
    json_object *back = json_tokener_parse(s);
    g_assert_nonnull(back);
    g_assert_true(json_object_equal(o, back));
    json_object_put(back);
    json_object_put(o);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmmctl/table/virsh-list", test_table_virsh_list);
    g_test_add_func("/vmmctl/table/empty-and-quiet", test_table_empty_and_quiet);
    g_test_add_func("/vmmctl/table/control-chars", test_table_control_chars);
    g_test_add_func("/vmmctl/states", test_states);
    g_test_add_func("/vmmctl/scaled", test_scaled);
    g_test_add_func("/vmmctl/cpu-time", test_cpu_time);
    g_test_add_func("/vmmctl/json-scalar", test_json_scalar);
    g_test_add_func("/vmmctl/json-pretty", test_json_pretty);
    return g_test_run();
}
