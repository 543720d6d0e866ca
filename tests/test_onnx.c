/* SPDX-License-Identifier: MIT */
/* test_onnx.c - the ONNX reader and the weights file sniffing, without OpenCL.
 *
 *   test_onnx CORPUS_DIR   (tests/fuzz/corpus/onnx: tiny DenseNets exported by torch 1.13)
 *
 * Each export parses into the canonical tensors of the config it was made from (the folded BN
 * coming back as an identity BN whose beta is the conv's bias); every truncation of a file is
 * refused without a crash; the first bytes of each known format are sniffed as that format,
 * a safetensors header whose length starts like a pickle included. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

static unsigned char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        if (n > 0 && (buf = malloc((size_t)n)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n)
            *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* The export parses, and infers the config it was made from. */
static void check_export(const char *dir, const char *name, const densecl_config *want)
{
    size_t len;
    unsigned char *buf = slurp(dir, name, &len);
    dc_tensor_set set;
    densecl_config cfg;
    CHECKF(buf != NULL, "cannot read %s/%s", dir, name);
    if (!buf)
        return;
    densecl_status st = dc_onnx_parse(buf, len, name, NULL, &set);
    CHECKF(st == DENSECL_OK, "%s: %s", name, densecl_last_error());
    if (st == DENSECL_OK) {
        memset(&cfg, 0, sizeof cfg);
        st = dc_config_infer(&set, &cfg);
        CHECKF(st == DENSECL_OK, "%s: %s", name, densecl_last_error());
        CHECKF(cfg.growth_rate == want->growth_rate && cfg.num_blocks == want->num_blocks &&
                   cfg.init_features == want->init_features && cfg.bottleneck == want->bottleneck &&
                   cfg.stem == want->stem && cfg.in_channels == want->in_channels &&
                   cfg.num_classes == want->num_classes,
               "%s: inferred k=%d blocks=%d init=%d bottleneck=%d stem=%d in=%d classes=%d", name,
               cfg.growth_rate, cfg.num_blocks, cfg.init_features, cfg.bottleneck, (int)cfg.stem,
               cfg.in_channels, cfg.num_classes);
        CHECKF(dc_config_match(&cfg, &set, name) == DENSECL_OK, "%s: %s", name,
               densecl_last_error());
        /* The exporter folds norm2 into conv1: an identity BN comes back. */
        if (want->bottleneck) {
            const dc_tensor *v =
                dc_tensor_find(&set, "features.denseblock1.denselayer1.norm2.running_var");
            const dc_tensor *g =
                dc_tensor_find(&set, "features.denseblock1.denselayer1.norm2.weight");
            CHECK(v && g && v->data && g->data && g->data[0] == 1.0f &&
                  v->data[0] == (float)(1.0 - 1e-5));
        }
        dc_tensor_set_free(&set);
    }
    /* Every truncation is refused (or, at the end, accepted), never a crash; the set is empty
     * after a refusal. */
    for (size_t cut = 0; cut < len; cut += 1 + cut / 16) {
        st = dc_onnx_parse(buf, cut, name, NULL, &set);
        CHECKF(st == DENSECL_ERR_FORMAT, "%s cut at %zu: status %d", name, cut, (int)st);
        CHECK(set.count == 0 && set.t == NULL);
        dc_tensor_set_free(&set);
    }
    free(buf);
}

static void check_sniff(const char *what, const void *head, size_t len, dc_file_kind want,
                        const char *says)
{
    const char *desc = NULL;
    dc_file_kind got = dc_weights_sniff(head, len, &desc);
    CHECKF(got == want, "%s: sniffed as %d, want %d", what, (int)got, (int)want);
    if (says)
        CHECKF(desc && strstr(desc, says), "%s: described as '%s', want '%s'", what,
               desc ? desc : "(null)", says);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    densecl_config cifar = {2, 2, {1, 1}, 4, 1, 2, 0.5f, DENSECL_STEM_CIFAR, 1, 3};
    densecl_config imagenet = {2, 2, {1, 1}, 4, 1, 2, 0.5f, DENSECL_STEM_IMAGENET, 3, 3};
    densecl_config plain = {2, 1, {2}, 4, 0, 4, 1.0f, DENSECL_STEM_CIFAR, 1, 3};
    check_export(dir, "cifar_op11.onnx", &cifar);
    check_export(dir, "cifar_op13_nofold.onnx", &cifar);
    check_export(dir, "cifar_op17_dyn.onnx", &cifar);
    check_export(dir, "imagenet_op13.onnx", &imagenet);
    check_export(dir, "plain_op13.onnx", &plain);

    /* Not a DenseNet: refused naming a node. */
    size_t len;
    dc_tensor_set set;
    unsigned char *buf = slurp(dir, "not_densenet.onnx", &len);
    CHECK(buf != NULL);
    if (buf) {
        CHECK(dc_onnx_parse(buf, len, "x", NULL, &set) == DENSECL_ERR_FORMAT);
        CHECKF(strstr(densecl_last_error(), "does not fit a DenseNet") &&
                   strstr(densecl_last_error(), "(Relu)"),
               "%s", densecl_last_error());
        /* The sniffer sends an ONNX file to the ONNX reader. */
        check_sniff("onnx", buf, len < 512 ? len : 512, DC_FILE_ONNX, NULL);
        free(buf);
    }

    /* A safetensors header of 640 bytes starts with 0x80 0x02, as a pickle does. */
    unsigned char st[16] = {0x80, 0x02, 0, 0, 0, 0, 0, 0, '{'};
    check_sniff("safetensors 640", st, 9, DC_FILE_SAFETENSORS, NULL);
    check_sniff("pickle",
                "\x80\x02\x8a\x0a"
                "l\xfc\x9c"
                "F\xf9 j\xa8P\x19.",
                16, DC_FILE_OTHER, "pickle");
    static const unsigned char zip_pt[] = "PK\x03\x04\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00"
                                          "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x13\x00"
                                          "\x00\x00state_dict/data.pkl";
    check_sniff("torch zip", zip_pt, sizeof zip_pt - 1, DC_FILE_OTHER, "PyTorch");
    static const unsigned char zip_npz[] =
        "PK\x03\x04\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00"
        "\x00\x00w.npy";
    check_sniff("npz", zip_npz, sizeof zip_npz - 1, DC_FILE_OTHER, ".npz");
    check_sniff("hdf5", "\x89HDF\r\n\x1a\n", 8, DC_FILE_OTHER, "HDF5");
    check_sniff("tflite", "\x1c\x00\x00\x00TFL3", 8, DC_FILE_OTHER, "TensorFlow Lite");
    /* Too short or unknown: the safetensors reader says what is wrong. */
    check_sniff("empty", "", 0, DC_FILE_SAFETENSORS, NULL);
    check_sniff("text", "hello world", 11, DC_FILE_SAFETENSORS, NULL);
    return check_summary();
}
