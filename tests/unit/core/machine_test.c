/* Tests for server/core/machine.c: the memory a process may use is the least of physical memory
 * and the cgroup limits that can be read; its CPUs the least of its affinity and a cgroup quota. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/core/machine.h"

#define GIB ((size_t)1 << 30)

/* A temporary file holding text; the caller unlinks and frees the path. */
static char *file_with(const char *text)
{
    char *path = strdup("/tmp/pz-machine-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_a_cgroup_limit_under_physical_memory_wins(void **state)
{
    (void)state;
    char *v2 = file_with("2147483648\n"), *v1 = file_with("9223372036854771712\n"); /* v1 unlimited */
    const char *files[] = {v2, v1};
    assert_int_equal(pz_machine_memory_from(24 * GIB, files, 2), 2 * GIB);
    /* A limit above physical memory changes nothing. */
    const char *only_v1[] = {v1};
    assert_int_equal(pz_machine_memory_from(24 * GIB, only_v1, 1), 24 * GIB);
    unlink(v2);
    unlink(v1);
    free(v2);
    free(v1);
}

static void test_max_missing_and_garbage_are_no_limit(void **state)
{
    (void)state;
    char *max = file_with("max\n"), *garbage = file_with("12 GiB\n"), *empty = file_with(""), *zero = file_with("0\n");
    const char *files[] = {max, garbage, empty, zero, "/nonexistent/memory.max"};
    assert_int_equal(pz_machine_memory_from(8 * GIB, files, 5), 8 * GIB);
    /* Physical memory unknown and no limit: unbounded, for the caller to cap. */
    assert_int_equal(pz_machine_memory_from(0, files, 5), SIZE_MAX);
    const char *const *none = NULL;
    assert_int_equal(pz_machine_memory_from(0, none, 0), SIZE_MAX);
    unlink(max);
    unlink(garbage);
    unlink(empty);
    unlink(zero);
    free(max);
    free(garbage);
    free(empty);
    free(zero);
}

static void test_this_machine_has_some_memory(void **state)
{
    (void)state;
    size_t m = pz_machine_memory();
    assert_true(m >= ((size_t)64 << 20));
    assert_true(m <= (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE));
}

static void test_a_cpu_quota_under_the_affinity_wins(void **state)
{
    (void)state;
    char *two = file_with("200000 100000\n"), *half = file_with("50000 100000\n"), *max = file_with("max 100000\n"),
         *garbage = file_with("lots\n"), *wide = file_with("3200000 100000\n");
    assert_int_equal(pz_machine_cpus_from(16, two), 2);
    assert_int_equal(pz_machine_cpus_from(16, half), 1); /* half a CPU rounds up to one */
    assert_int_equal(pz_machine_cpus_from(16, max), 16);
    assert_int_equal(pz_machine_cpus_from(16, garbage), 16);
    assert_int_equal(pz_machine_cpus_from(16, wide), 16); /* a quota above the affinity changes nothing */
    assert_int_equal(pz_machine_cpus_from(8, "/nonexistent/cpu.max"), 8);
    assert_int_equal(pz_machine_cpus_from(0, "/nonexistent/cpu.max"), 1);
    char *files[] = {two, half, max, garbage, wide};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        unlink(files[i]);
        free(files[i]);
    }
}

static void test_this_machine_has_some_cpus(void **state)
{
    (void)state;
    int n = pz_machine_cpus();
    assert_true(n >= 1);
    assert_true(n <= (int)sysconf(_SC_NPROCESSORS_CONF));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_cgroup_limit_under_physical_memory_wins),
        cmocka_unit_test(test_max_missing_and_garbage_are_no_limit),
        cmocka_unit_test(test_this_machine_has_some_memory),
        cmocka_unit_test(test_a_cpu_quota_under_the_affinity_wins),
        cmocka_unit_test(test_this_machine_has_some_cpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
