/* SPDX-License-Identifier: MIT */
// The public header must be C++-clean: built with -Wall -Wextra -Wpedantic -Werror as C++.
#include "densecl.h"

#include <cstdio>
#include <cstring>

int main()
{
    densecl_config cfg;
    bool ok = densecl_config_preset("densenet-bc-100-k12", &cfg) == DENSECL_OK &&
              cfg.stem == DENSECL_STEM_CIFAR && std::strlen(densecl_version()) > 0;
    densecl_engine_free(nullptr);
    std::printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
