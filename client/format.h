/* vmmctl's output formats, kept apart from the protocol so they can be
 * unit-tested: virsh's tables, state names and scaled sizes. */
#ifndef VMMCTL_FORMAT_H
#define VMMCTL_FORMAT_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* virsh's table (vshTable): every cell is " %s", padded with spaces to the
 * column's width plus two, except in the last column; the header is
 * followed by a line of dashes, (width + 3) per column. */
typedef struct VmmctlTable VmmctlTable;

VmmctlTable *vmmctl_table_new(const char *first_header, ...) G_GNUC_NULL_TERMINATED;
/* Cells are copied; exactly as many as there are headers. */
void vmmctl_table_add_row(VmmctlTable *t, const char *first_cell, ...) G_GNUC_NULL_TERMINATED;
/* header false: rows only (virsh --quiet); widths ignore the header. */
char *vmmctl_table_to_string(VmmctlTable *t, bool header);
void vmmctl_table_free(VmmctlTable *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmctlTable, vmmctl_table_free)

/* libvirt's state names as the daemon sends them ("running", "shutoff",
 * ...) -> what virsh prints ("running", "shut off", ...). Unknown names are
 * returned as they are; NULL gives "no state". */
const char *vmmctl_state_to_string(const char *state);
/* virDomainState numbers (state.state in domain-stats) -> virsh's words. */
const char *vmmctl_state_number_to_string(int64_t state);

/* virsh's scaled integers (vshCommandOptScaledInt): a decimal number with
 * an optional libvirt unit suffix (b, KiB, k, KB, MiB, M, MB, ... E),
 * default_scale applying when there is none. */
bool vmmctl_parse_scaled(const char *text, uint64_t default_scale,
                         uint64_t *bytes);

/* "1.2s" as virsh's dominfo prints CPU time (nanoseconds in). */
char *vmmctl_format_cpu_time(uint64_t ns);

/* A JSON scalar as virsh prints a typed parameter: integers in decimal,
 * strings verbatim, booleans as yes/no, doubles with %f. */
char *vmmctl_json_scalar(json_object *v);

/* Pretty JSON for --json, with a final newline. */
char *vmmctl_json_pretty(json_object *v);

#endif
