/* Built out of tree against an installed netipc (pkg-config and CMake, see
 * xtask/src/install.rs): the headers and the library are found, and a
 * client works (no provider: NOT_FOUND, with the cause). */
#include <netipc/netipc_service.h>

#include <stdio.h>
#include <string.h>

int main(void) {
    nipc_client_config_t config;
    nipc_client_ctx_t client;
    nipc_error_t err;

    memset(&config, 0, sizeof config);
    if (nipc_client_init(&client, ".", "netipc-installed-nobody", &config) != NIPC_OK) {
        fprintf(stderr, "installed: init: %s\n", nipc_client_last_error(&client));
        return 1;
    }
    err = nipc_client_wait_ready(&client, 0);
    if (err != NIPC_ERR_NOT_FOUND || strstr(nipc_client_last_error(&client), "nobody") == NULL) {
        fprintf(stderr, "installed: expected NOT_FOUND, got %s: %s\n", nipc_error_str(err),
                nipc_client_last_error(&client));
        nipc_client_close(&client);
        return 1;
    }
    nipc_client_close(&client);
    printf("installed: ok (%s)\n", nipc_error_str(err));
    return 0;
}
