/* Error strings, hashes and service names: no provider needed. */
#include <netipc/netipc_service.h>

#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            failures++;                                                     \
        }                                                                   \
    } while (0)

int main(void) {
    CHECK(strncmp(nipc_error_str(NIPC_OK), "NIPC_OK", 7) == 0);
    CHECK(strncmp(nipc_error_str(NIPC_ERR_TIMEOUT), "NIPC_ERR_TIMEOUT:", 17) == 0);
    CHECK(strncmp(nipc_error_str(NIPC_ERR_ADDR_IN_USE), "NIPC_ERR_ADDR_IN_USE:", 21) == 0);
    CHECK(strncmp(nipc_error_str((nipc_error_t)1000), "NIPC_ERR_UNKNOWN", 16) == 0);
    CHECK(nipc_netdata_hash(NULL) == nipc_netdata_hash(""));
    CHECK(nipc_netdata_hash("system.slice") == nipc_netdata_hash_n("system.slice.x", 12));
    CHECK(nipc_netdata_hash_n(NULL, 0) == nipc_netdata_hash(""));
    CHECK(strcmp(NIPC_CGROUPS_SNAPSHOT_SERVICE, "cgroups-snapshot") == 0);
    nipc_client_config_t client = {0};
    nipc_server_config_t server = {0};
    (void)client;
    (void)server;
    if (failures) {
        fprintf(stderr, "test_basics: %d failures\n", failures);
        return 1;
    }
    printf("test_basics: ok\n");
    return 0;
}
