/* SPDX-License-Identifier: MIT */
/* query.h - shared by densecl-query's files: densecl-query.c (main), query_probe.c (the
 * devices), query_fields.c (the field table), query_report.c (text and JSON), query_icd.c (the
 * ICD loader's files) and query_rec.c (the recommendation). */
#ifndef DENSECL_QUERY_H
#define DENSECL_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "tools_internal.h"

#define Q_MAX_PLATFORMS 16 /* as host/device.c */
#define Q_MAX_DEVICES 64
#define Q_MAX_ICDS 32

typedef struct q_icd {
    char file[512];  /* the .icd file, or "OCL_ICD_FILENAMES" */
    char lib[512];   /* the library it names (its first line) */
    char error[512]; /* why the library cannot be loaded (dlerror), "" when it loads */
} q_icd;

typedef struct q_icds {
    char where[512]; /* the directory (or file) that was read */
    const char *why; /* "default", "OCL_ICD_VENDORS", "OPENCL_VENDOR_PATH" */
    int dir_missing;
    int n;
    q_icd e[Q_MAX_ICDS];
} q_icds;

typedef struct q_platform {
    cl_platform_id id;
    int index;
    int n_devices;
    int shown; /* has a device in the report */
    char name[128];
    char vendor[128];
    char version[256];
    char suffix[32];     /* CL_PLATFORM_ICD_SUFFIX_KHR */
    char library[512];   /* where its entry points live, "" if unseen */
    int icd;             /* index into the ICD list, -1 unknown */
    const char *icd_how; /* "loaded library" or "name" */
} q_platform;

typedef struct q_device {
    cl_device_id id;
    densecl_device_info info;
    char spec[24];
    char cl_std[24];
    cl_device_local_mem_type local_type;
    int fp16, fp64, images, out_of_order;
    densecl_selftest st; /* densecl_device_selftest's findings */
} q_device;

typedef struct q_rec {
    const char *basis; /* "bench", "static" or "none" */
    int best;          /* index into the devices, -1 for none */
    int n_multi;       /* devices worth using together, best first; >= 2 when it helps */
    int multi[Q_MAX_DEVICES];
    double gain_pct;
    char multi_spec[256];
    char text[2048]; /* lines without the headline, '\n'-separated */
} q_rec;

void q_copy(char *out, size_t cap, const char *s);
const char *q_basename(const char *path);
/* A value with three significant digits for the table ("41.2", "0.619", "1234"). */
void q_num(double v, char *out, size_t cap);

/* What ocl-icd reads: $OCL_ICD_VENDORS, else $OPENCL_VENDOR_PATH, else /etc/OpenCL/vendors;
 * plus the libraries of $OCL_ICD_FILENAMES. Each library is tried as the loader would load it:
 * one that does not load gets the reason in its error (the report lists it). */
void q_icds_scan(q_icds *l);
/* "no fp16, images; has fp64, out-of-order, compiler": what a device lacks, then what it has. */
void q_features(const q_device *d, char *out, size_t cap);
/* The driver library a platform's entry points live in, "" when that is not seen. */
void q_platform_library(cl_platform_id p, const char *extensions, char *out, size_t cap);
/* Index of the ICD entry of a platform, or -1; *how says how it was matched. */
int q_icd_match(const q_icds *l, const char *lib, const char *suffix, const char *vendor,
                const char **how);
/* No platform at all: what ICDs are, what the loader was given, how to get a driver. */
void q_no_platform_help(cl_int err);

/* The platforms (all of them, np) and their devices (those --device picks, *n of *total);
 * one device's OpenCL facts (query_probe.c). */
int q_list(cl_platform_id *ids, cl_uint np, int only_p, int only_d, const q_icds *icds,
           q_platform *plats, q_device *devs, int *n, int *total);
void q_device_probe(q_device *d);

/* One device's row of the report, as the field table (query_fields.c) formats it. */
typedef struct q_ctx {
    const q_device *d;
    const q_platform *p; /* may be NULL */
    const q_icds *icds;
    int arg; /* the row's own argument (a conv case's index) */
} q_ctx;
/* 6670811136 -> "6.2 GiB"; 524288 -> "512 KiB". */
void q_bytes(uint64_t b, char *out, size_t cap);
/* Every field as a --verbose line; as the members of a JSON object. */
void q_print_device_verbose(const q_ctx *c);
void q_json_device(cli_json *j, const q_ctx *c);

/* The report (query_report.c): the table, or with verbose every field; one JSON object. */
void q_print_text(const q_platform *plats, int np, const q_device *devs, int n, const q_icds *icds,
                  const q_rec *r, int verbose);
void q_print_json(const q_platform *plats, int np, const q_device *devs, int n, const q_icds *icds,
                  const q_rec *r);

/* Built and computed correctly. */
int q_usable(const q_device *d);
void q_recommend(const q_device *devs, int n, int bench, int total_devices, q_rec *r);

#endif
