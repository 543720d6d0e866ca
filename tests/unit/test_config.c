/* SPDX-License-Identifier: MIT */
/* Presets, counts and validation against torchvision's published figures. */
#include <string.h>

#include "check.h"
#include "conv/conv.h"

static void test_presets(void)
{
    /* Parameter counts: torchvision's model cards; GMACs: torchvision's "GFLOPS" column, which
     * counts multiply-accumulates, at 224x224. */
    static const struct {
        const char *name;
        uint64_t params;
        double gmacs;
    } known[] = {
        {"densenet121", 7978856, 2.83},
        {"densenet161", 28681000, 7.73},
        {"densenet169", 14149480, 3.36},
        {"densenet201", 20013928, 4.29},
    };
    densecl_config cfg;
    for (size_t i = 0; i < DC_ARRAY_LEN(known); i++) {
        CHECK(densecl_config_preset(known[i].name, &cfg) == DENSECL_OK);
        CHECKF(densecl_config_params(&cfg) == known[i].params, "%s: %llu params", known[i].name,
               (unsigned long long)densecl_config_params(&cfg));
        double g = (double)densecl_config_macs(&cfg, 224, 224) / 1e9;
        CHECKF(g > known[i].gmacs - 0.006 && g < known[i].gmacs + 0.006, "%s: %.4f GMACs",
               known[i].name, g);
        CHECKF(densecl_config_min_size(&cfg) == 29, "%s: min size %d", known[i].name,
               densecl_config_min_size(&cfg));
    }
    CHECK(densecl_config_preset("densenet-bc-100-k12", &cfg) == DENSECL_OK);
    CHECKF(densecl_config_params(&cfg) == 769162, "bc-100: %llu",
           (unsigned long long)densecl_config_params(&cfg));
    CHECK(cfg.block_layers[0] == 16 && cfg.init_features == 24 && cfg.stem == DENSECL_STEM_CIFAR);
    CHECK(densecl_config_preset("densenet-bc-250-k24", &cfg) == DENSECL_OK);
    CHECK(cfg.block_layers[2] == 41 && cfg.init_features == 48);
    CHECK(densecl_config_preset("densenet-bc-190-k40", &cfg) == DENSECL_OK);
    CHECK(cfg.block_layers[1] == 31 && cfg.init_features == 80);
    CHECK(densecl_config_preset("densenet-40-k12", &cfg) == DENSECL_OK);
    CHECK(!cfg.bottleneck && cfg.compression == 1.0f && cfg.init_features == 16);
    /* The paper's DenseNet (L=40, k=12) has 1.0M parameters. */
    CHECKF(densecl_config_params(&cfg) > 1000000 && densecl_config_params(&cfg) < 1100000,
           "densenet-40: %llu", (unsigned long long)densecl_config_params(&cfg));
    CHECK(densecl_config_preset("densenet264", &cfg) == DENSECL_OK);
    CHECK(cfg.block_layers[2] == 64 && cfg.block_layers[3] == 48);

    CHECK(densecl_preset_count() == 9);
    for (int i = 0; i < densecl_preset_count(); i++) {
        CHECK(densecl_config_preset(densecl_preset_name(i), &cfg) == DENSECL_OK);
        CHECK(densecl_config_check(&cfg) == DENSECL_OK);
    }
    CHECK(densecl_preset_name(densecl_preset_count()) == NULL);
    CHECK(densecl_config_preset("densenet122", &cfg) == DENSECL_ERR_ARGUMENT);
    CHECK(strstr(densecl_last_error(), "densenet122") &&
          strstr(densecl_last_error(), "densenet121"));
}

static void test_check(void)
{
    densecl_config base, c;
    densecl_config_preset("densenet121", &base);
    c = base;
    c.num_blocks = 0;
    CHECK(densecl_config_check(&c) == DENSECL_ERR_ARGUMENT);
    c = base;
    c.compression = 0.0f;
    CHECK(densecl_config_check(&c) == DENSECL_ERR_ARGUMENT);
    c = base;
    c.compression = 0.001f; /* 64+6*32 = 256 channels -> 0 */
    CHECK(densecl_config_check(&c) == DENSECL_ERR_ARGUMENT);
    CHECK(strstr(densecl_last_error(), "no channels") != NULL);
    c = base;
    c.block_layers[5] = 3; /* past num_blocks */
    CHECK(densecl_config_check(&c) == DENSECL_ERR_ARGUMENT);
    c = base;
    c.block_layers[1] = 0;
    CHECK(densecl_config_check(&c) == DENSECL_ERR_ARGUMENT);
    c = base;
    c.num_classes = 0;
    CHECK(densecl_config_check(&c) == DENSECL_ERR_ARGUMENT);
    CHECK(densecl_config_check(NULL) == DENSECL_ERR_ARGUMENT);
    CHECK(densecl_config_params(NULL) == 0);
    CHECK(densecl_config_macs(&base, 28, 28) == 0);
    CHECK(densecl_config_macs(&base, 29, 29) > 0);
    CHECK(densecl_config_macs(&base, 29, 300) > densecl_config_macs(&base, 29, 29));
}

static void test_tensors(void)
{
    densecl_config cfg;
    dc_tensor_spec *s = NULL;
    int n = 0;
    densecl_config_preset("densenet121", &cfg);
    CHECK(dc_config_tensors(&cfg, &s, &n) == DENSECL_OK);
    /* conv0 + norm0(4) + 58 layers x (4+1+4+1) + 3 transitions x 5 + norm5(4) + classifier(2) */
    CHECKF(n == 1 + 4 + 58 * 10 + 3 * 5 + 4 + 2, "%d tensors", n);
    CHECK(strcmp(s[0].key, "features.conv0.weight") == 0 && s[0].shape[3] == 7);
    CHECK(strcmp(s[5].key, "features.denseblock1.denselayer1.norm1.weight") == 0);
    CHECK(strcmp(s[n - 1].key, "classifier.bias") == 0 && s[n - 1].shape[0] == 1000);
    CHECK(strcmp(s[n - 2].key, "classifier.weight") == 0 && s[n - 2].shape[1] == 1024);
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].key, "features.transition1.conv.weight") == 0)
            CHECK(s[i].shape[0] == 128 && s[i].shape[1] == 256 && s[i].shape[2] == 1);
    free(s);

    densecl_config_preset("densenet-40-k12", &cfg);
    CHECK(dc_config_tensors(&cfg, &s, &n) == DENSECL_OK);
    CHECK(strcmp(s[1].key, "features.denseblock1.denselayer1.norm1.weight") == 0);
    CHECK(strcmp(s[5].key, "features.denseblock1.denselayer1.conv1.weight") == 0);
    CHECK(s[5].shape[0] == 12 && s[5].shape[1] == 16 && s[5].shape[2] == 3);
    free(s);
}

/* The tuning file's tiles are small integers: numbers an int cannot hold (sscanf's %d is
 * undefined for them), signs, spaces and trailing text are refused, not narrowed. */
static void test_tiles_parse(void)
{
    densecl_tiles t;
    int c, p;
    CHECK(dc_parse_tile("8x32", &c, &p) && c == 8 && p == 32);
    CHECK(dc_parse_tile("64x1", &c, &p) && c == 64 && p == 1);
    static const char *bad[] = {"4294967304x8",
                                "8x4294967304",
                                "99999999999999999999x1",
                                "0x8",
                                "65x8",
                                "8x65",
                                "+8x8",
                                "-8x8",
                                " 8x8",
                                "8x8 ",
                                "8x",
                                "x8",
                                "8x8x8",
                                "8",
                                "",
                                "008x8"};
    for (size_t i = 0; i < DC_ARRAY_LEN(bad); i++)
        CHECKF(!dc_parse_tile(bad[i], &c, &p), "tile '%s' accepted", bad[i]);
    CHECK(dc_tiles_parse("conv1x1 8x16\nconv 16x4\n", &t, "tuning") == DENSECL_OK &&
          t.conv1x1_channels == 8 && t.conv1x1_pixels == 16 && t.conv_channels == 16 &&
          t.conv_pixels == 4);
    CHECK(dc_tiles_parse("conv1x1 4294967304x16\nconv 16x4\n", &t, "tuning") == DENSECL_ERR_FORMAT);
    CHECK(strstr(densecl_last_error(), "tuning:1:") != NULL);
}

int main(void)
{
    test_tiles_parse();
    test_presets();
    test_check();
    test_tensors();
    return check_summary();
}
