/* SPDX-License-Identifier: MIT */
/* Built with -std=c99 -Wpedantic -Werror and nothing but the public header. */
#include "densecl.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    densecl_config cfg;
    int ok = densecl_config_preset("densenet121", &cfg) == DENSECL_OK &&
             strcmp(densecl_status_str(DENSECL_ERR_BUILD), "kernel build failed") == 0 &&
             cfg.num_blocks == 4;
    densecl_engine_free(NULL);
    densecl_weights_free(NULL);
    printf("%d passed, %d failed\n", ok, !ok);
    return ok ? 0 : 1;
}
