#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# query_tests.sh QUERY SCRATCH [DEVICES] - end-to-end tests of densecl-query.
#
# QUERY is build/bin/densecl-query, SCRATCH a directory this script empties and uses, DEVICES the
# number of OpenCL devices the environment offers (1 by default; 2 when run with
# POCL_DEVICES="pthread pthread"). Each case prints "ok NAME" or "FAIL NAME: why"; the last line
# is "N passed, N failed" and the exit status is non-zero on any failure. A missing OpenCL device
# or python3 fails the cases that need it; nothing is skipped. Speeds are never compared with a
# speed; each figure must agree with the time it was computed from (as printed, to its digits),
# and the conv check's largest error with its cases' and with the float error bound.
set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 QUERY SCRATCH [DEVICES]" >&2
    exit 2
fi
BIN=$1
TMP=$2
NDEV=${3:-1}
rm -rf "$TMP"
mkdir -p "$TMP" || exit 2

# The cases are about POCL's devices (0:0, 0:1, their count): on a machine that has another
# platform too (a GPU's, listed first), the loader is given POCL's .icd alone, from
# $OCL_ICD_VENDORS when that is a directory, else from /etc/OpenCL/vendors.
vendors=/etc/OpenCL/vendors
if [ -n "${OCL_ICD_VENDORS:-}" ] && [ -d "$OCL_ICD_VENDORS" ]; then
    vendors=$OCL_ICD_VENDORS
fi
pocl_icd=$(grep -l 'libpocl' "$vendors"/*.icd 2>/dev/null | head -n 1)
if [ -n "$pocl_icd" ]; then
    mkdir -p "$TMP/pocl-vendors" && cp "$pocl_icd" "$TMP/pocl-vendors/" || exit 2
    export OCL_ICD_VENDORS="$TMP/pocl-vendors"
fi

PY=
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import json' >/dev/null 2>&1; then
        PY=$p
        break
    fi
done

# shellcheck source=lib.sh
. "$(dirname "$0")/../support/lib.sh"

# q ARGS...: runs the tool; sets rc, leaves stdout in $TMP/out and stderr in $TMP/err.
q() {
    capture "$TMP/out" "$TMP/err" "$BIN" "$@"
}

# Why the last run did not exit 0 with a report, or "".
not_ok() {
    if [ "$rc" -ne 0 ]; then
        echo "exit status $rc; stderr: $(head -c 800 "$TMP/err")"
    elif grep -q 'densecl-query: error' "$TMP/err"; then
        echo "error on stderr: $(head -c 800 "$TMP/err")"
    fi
}

# Lines of $TMP/out longer than 100 columns, or "".
too_wide() {
    awk 'length($0) > 100 { printf "line %d has %d columns: %s\n", NR, length($0), $0; exit }' \
        "$TMP/out"
}

# json_check NAME PYTHON-CODE: loads $TMP/out as JSON into `d` and runs the code, which raises
# AssertionError("why") on a failure.
json_check() {
    local name=$1 code=$2 why
    if [ -z "$PY" ]; then
        bad "$name" "python3 is needed to parse the JSON"
        return
    fi
    if why=$("$PY" - "$TMP/out" "$NDEV" 2>&1 <<EOF
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    d = json.load(f)
ndev = int(sys.argv[2])
$code
EOF
    ); then
        ok "$name"
    else
        bad "$name" "$(echo "$why" | grep -m1 -A4 'Error' | tr '\n' ' ' | head -c 600)"
    fi
}

# The checks every JSON report passes: required keys and their types, every device usable.
read -r -d '' JSON_COMMON <<'EOF'
req = ["name", "type", "vendor", "driver_version", "opencl_c_version", "cl_std",
       "compute_units", "clock_mhz", "global_mem_bytes", "max_alloc_bytes", "local_mem_bytes",
       "local_mem_type", "max_work_group_size", "fp16", "fp64", "image_support",
       "out_of_order_queue", "compiler_available", "kernels_build", "conv_check", "spec"]
for k in ["densecl_version", "platforms", "devices", "recommendation"]:
    assert k in d, "top-level key %s missing" % k
assert isinstance(d["platforms"], list) and d["platforms"], "no platforms"
for dev in d["devices"]:
    for k in req:
        assert k in dev, "device key %s missing: %s" % (k, sorted(dev))
    for k in ["fp16", "fp64", "image_support", "out_of_order_queue", "compiler_available",
              "kernels_build"]:
        assert isinstance(dev[k], bool), "%s is not a boolean: %r" % (k, dev[k])
    for k in ["compute_units", "clock_mhz", "global_mem_bytes", "max_alloc_bytes",
              "max_work_group_size"]:
        assert isinstance(dev[k], int) and dev[k] > 0, "%s = %r" % (k, dev[k])
    assert dev["type"] in ("GPU", "CPU", "ACCELERATOR", "OTHER"), dev["type"]
    assert dev["local_mem_type"] in ("local", "global", "none"), dev["local_mem_type"]
    assert dev["cl_std"].startswith("-cl-std=CL"), dev["cl_std"]
    # the whole CL_DEVICE_VERSION (POCL's is 65 characters; a 64-byte array left it empty)
    assert dev["device_version"].startswith("OpenCL "), "device_version %r" % dev["device_version"]
    assert dev["kernels_build"] is True, "kernels do not build: %s" % dev.get("build_log")
    assert dev["conv_check"]["ok"] is True, "conv check: %s" % dev["conv_check"]
    assert dev["conv_check"]["detail"].startswith("ok (max err "), dev["conv_check"]
    assert dev["spec"] == "%d:%d" % (dev["platform"], dev["device"]), dev["spec"]
rec = d["recommendation"]
assert rec["spec"] in [x["spec"] for x in d["devices"]], "recommended %r" % rec["spec"]
EOF

# --- default output -------------------------------------------------------------------------
q
why=$(not_ok)
if [ -n "$why" ]; then
    bad default "$why"
elif ! grep -Eq '^  0:0 +(CPU|GPU|ACCEL) ' "$TMP/out"; then
    bad default "no device row for 0:0: $(head -c 800 "$TMP/out")"
elif [ "$(grep -c 'check: kernels build; conv ok (max err ' "$TMP/out")" -ne "$NDEV" ]; then
    bad default "want $NDEV 'conv ok' lines: $(cat "$TMP/out")"
elif ! grep -q '^recommendation: --device 0:0 ' "$TMP/out"; then
    bad default "no recommendation of 0:0: $(tail -n 5 "$TMP/out")"
elif ! grep -q 'run with --bench' "$TMP/out"; then
    bad default "does not suggest --bench"
elif why=$(too_wide) && [ -n "$why" ]; then
    bad default "$why"
else
    ok default
fi

q
if [ "$rc" -eq 0 ] && grep -qi 'pthread\|pocl\|cpu' "$TMP/out"; then
    ok default-lists-pocl
else
    bad default-lists-pocl "no POCL device in: $(head -c 600 "$TMP/out")"
fi

# The features line: what a device lacks, then what it has, as the JSON says them ("no fp16;
# has fp64, ..." and never "no fp16, fp64, ..." for a device that has fp64).
q --json
if [ -n "$PY" ] && want=$("$PY" - "$TMP/out" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    dev = json.load(f)["devices"][0]
f = [("fp16", dev["fp16"]), ("fp64", dev["fp64"]), ("images", dev["image_support"]),
     ("out-of-order", dev["out_of_order_queue"]), ("compiler", dev["compiler_available"])]
no = ", ".join(n for n, has in f if not has)
yes = ", ".join(n for n, has in f if has)
print("; ".join(x for x in ["no " + no if no else "", "has " + yes if yes else ""] if x))
EOF
); then
    q
    if [ "$rc" -eq 0 ] && grep -qF -- "$want" "$TMP/out"; then
        ok features-wording
    else
        bad features-wording "want '$want' in: $(sed -n '1,12p' "$TMP/out")"
    fi
else
    bad features-wording "the JSON report did not parse: $(head -c 300 "$TMP/out")"
fi

# --- verbose --------------------------------------------------------------------------------
q -v
why=$(not_ok)
if [ -n "$why" ]; then
    bad verbose "$why"
elif ! grep -q 'OpenCL C .*densecl builds with -cl-std=CL' "$TMP/out" ||
    ! grep -q 'local mem ' "$TMP/out" || ! grep -q 'ICD files' "$TMP/out"; then
    bad verbose "details missing: $(head -c 1200 "$TMP/out")"
elif [ "$(grep -c 'conv check .*: ok (max err' "$TMP/out")" -lt 3 ]; then
    bad verbose "want the three conv cases: $(grep 'conv check' "$TMP/out")"
else
    ok verbose
fi

# --- JSON -----------------------------------------------------------------------------------
q --json
why=$(not_ok)
if [ -n "$why" ]; then
    bad json "$why"
else
    json_check json "$JSON_COMMON
assert len(d['devices']) == ndev, 'want %d devices, got %d' % (ndev, len(d['devices']))
assert all('bench' not in x for x in d['devices']), 'bench without --bench'
assert d['recommendation']['basis'] == 'static', d['recommendation']
assert d['recommendation']['spec'] == '0:0', d['recommendation']"
fi

q --device 0:0 --json
why=$(not_ok)
if [ -n "$why" ]; then
    bad json-device "$why"
else
    json_check json-device "$JSON_COMMON
assert [x['spec'] for x in d['devices']] == ['0:0'], [x['spec'] for x in d['devices']]"
fi

if [ "$NDEV" -ge 2 ]; then
    q --device=0:1
    why=$(not_ok)
    if [ -n "$why" ]; then
        bad device-filter "$why"
    elif grep -q '^  0:0 ' "$TMP/out" || ! grep -q '^  0:1 ' "$TMP/out" ||
        ! grep -q '^recommendation: --device 0:1 ' "$TMP/out"; then
        bad device-filter "want 0:1 only: $(cat "$TMP/out")"
    else
        ok device-filter
    fi
fi

# --- two POCL devices -----------------------------------------------------------------------
POCL_DEVICES="pthread pthread" q --json
why=$(not_ok)
if [ -n "$why" ]; then
    bad two-devices-json "$why"
else
    json_check two-devices-json "$JSON_COMMON
specs = [x['spec'] for x in d['devices']]
assert specs == ['0:0', '0:1'], specs
assert 'shares the CPU cores' in d['recommendation']['text'], d['recommendation']
assert d['recommendation']['multi_device'] is False, d['recommendation']"
fi

POCL_DEVICES="pthread pthread" q
why=$(not_ok)
if [ -n "$why" ]; then
    bad two-devices "$why"
elif ! grep -q '^  0:0 ' "$TMP/out" || ! grep -q '^  0:1 ' "$TMP/out"; then
    bad two-devices "want rows 0:0 and 0:1: $(cat "$TMP/out")"
elif ! grep -q '^densecl .*1 OpenCL platform, 2 devices' "$TMP/out"; then
    bad two-devices "headline: $(head -n 1 "$TMP/out")"
elif [ "$(grep -c 'conv ok' "$TMP/out")" -ne 2 ]; then
    bad two-devices "want two 'conv ok' lines: $(cat "$TMP/out")"
elif why=$(too_wide) && [ -n "$why" ]; then
    bad two-devices "$why"
else
    ok two-devices
fi

# --- no OpenCL platform ---------------------------------------------------------------------
mkdir -p "$TMP/no-icds"
OCL_ICD_VENDORS="$TMP/no-icds" q
if [ "$rc" -ne 1 ]; then
    bad no-platform "exit status $rc, want 1"
elif [ -s "$TMP/out" ]; then
    bad no-platform "stdout not empty: $(head -c 300 "$TMP/out")"
else
    missing=
    for want in 'no OpenCL platform' '/etc/OpenCL/vendors' '\.icd' 'OCL_ICD_VENDORS' \
        "$TMP/no-icds: no .icd files" 'apt install pocl-opencl-icd' 'clinfo'; do
        grep -q -- "$want" "$TMP/err" || missing="$missing '$want'"
    done
    if [ -n "$missing" ]; then
        bad no-platform "stderr lacks$missing: $(cat "$TMP/err")"
    else
        ok no-platform
    fi
fi

OCL_ICD_VENDORS="$TMP/no-icds" q --json
if [ "$rc" -eq 1 ] && [ ! -s "$TMP/out" ] && grep -q 'pocl-opencl-icd' "$TMP/err"; then
    ok no-platform-json
else
    bad no-platform-json "exit status $rc, stdout $(head -c 200 "$TMP/out")"
fi

# A vendors directory whose .icd names a library that does not exist: the reason is shown.
mkdir -p "$TMP/bad-icd"
echo "libdensecl-no-such-driver.so.1" >"$TMP/bad-icd/broken.icd"
OCL_ICD_VENDORS="$TMP/bad-icd" q
if [ "$rc" -eq 1 ] && grep -q 'broken.icd -> libdensecl-no-such-driver.so.1: ' "$TMP/err"; then
    ok broken-icd
else
    bad broken-icd "exit status $rc; stderr: $(cat "$TMP/err")"
fi

# Beside a working driver, an .icd whose library does not load and one that is no OpenCL
# driver: the report (text and JSON) names both with the reason (lines wrapped at 100 columns,
# hence tr); the working one is listed.
mkdir -p "$TMP/mixed-icds"
cp "${OCL_ICD_VENDORS:-/etc/OpenCL/vendors}"/*.icd "$TMP/mixed-icds/"
echo "libdensecl-no-such-driver.so.1" >"$TMP/mixed-icds/broken.icd"
echo "libm.so.6" >"$TMP/mixed-icds/notadriver.icd"
OCL_ICD_VENDORS="$TMP/mixed-icds" q
if [ "$rc" -ne 0 ]; then
    bad failed-icd-listed "exit status $rc: $(cat "$TMP/err")"
elif ! tr '\n' ' ' <"$TMP/out" |
    grep -q 'ICD [^ ]*broken.icd -> libdensecl-no-such-driver.so.1: not loaded: cannot open'; then
    bad failed-icd-listed "no line for broken.icd with dlerror's reason: $(head -n 8 "$TMP/out")"
elif ! tr '\n' ' ' <"$TMP/out" |
    grep -q 'ICD [^ ]*notadriver.icd -> libm.so.6: loads, but is no OpenCL driver'; then
    bad failed-icd-listed "no line for notadriver.icd: $(head -n 8 "$TMP/out")"
elif ! grep -Eq '^  0:0 +(CPU|GPU|ACCEL) ' "$TMP/out"; then
    bad failed-icd-listed "the working driver's device is missing: $(cat "$TMP/out")"
elif why=$(too_wide) && [ -n "$why" ]; then
    bad failed-icd-listed "$why"
else
    ok failed-icd-listed
fi
OCL_ICD_VENDORS="$TMP/mixed-icds" q --json
json_check failed-icd-json "
icds = {i['file'].rsplit('/', 1)[-1]: i for i in d['icd_files']}
b = icds['broken.icd']
assert b['loads'] is False and b['error'].startswith('not loaded: ') and \\
    'cannot open shared object file' in b['error'], b
assert icds['notadriver.icd']['loads'] is False, icds['notadriver.icd']
good = [i for n, i in icds.items() if n not in ('broken.icd', 'notadriver.icd')]
assert good and all(i['loads'] is True and i['error'] is None for i in good), good"

# A platform without devices (POCL given no device) is not a report either.
POCL_DEVICES="no-such-device-kind" q
if [ "$rc" -eq 1 ] && grep -q 'none has a device' "$TMP/err"; then
    ok no-devices
else
    bad no-devices "exit status $rc; stderr: $(head -c 600 "$TMP/err")"
fi

# --- usage ----------------------------------------------------------------------------------
q --help
if [ "$rc" -eq 0 ] && grep -q '^usage: densecl-query' "$TMP/out" && grep -q -- '--bench' "$TMP/out"
then
    ok help
else
    bad help "exit status $rc: $(head -c 300 "$TMP/out")"
fi

for args in "--frobnicate" "--device" "--device --json" "extra" "--device 0:0 --device 0:0"; do
    # shellcheck disable=SC2086
    q $args
    if [ "$rc" -eq 2 ] && grep -q '^densecl-query: error: ' "$TMP/err" && [ ! -s "$TMP/out" ]
    then
        ok "usage-error ($args)"
    else
        bad "usage-error ($args)" "exit status $rc, want 2; stderr: $(cat "$TMP/err")"
    fi
done

q --device 7:3
if [ "$rc" -eq 1 ] && grep -q 'no OpenCL device matches' "$TMP/err" && [ ! -s "$TMP/out" ]; then
    ok unknown-device
else
    bad unknown-device "exit status $rc, want 1; stderr: $(cat "$TMP/err")"
fi

# --- --bench (slow: once, on one device) ----------------------------------------------------
q --bench --json --device 0:0
why=$(not_ok)
if [ -n "$why" ]; then
    bad bench "$why"
else
    json_check bench "$JSON_COMMON
b = d['devices'][0].get('bench')
assert b is not None, 'no bench object'
for k in ['gflops', 'bandwidth_gbs', 'launch_latency_us', 'densenet121_images_per_second']:
    v = b.get(k)
    assert isinstance(v, (int, float)) and v > 0, '%s = %r (error: %s)' % (k, v, b.get('error'))
assert b.get('error') is None, b['error']
assert d['recommendation']['basis'] == 'bench', d['recommendation']
assert d['recommendation']['spec'] == '0:0', d['recommendation']
# The conv check's largest error: not 0 (fp32 sums against a double reference), within the
# float error bound of the check's sums (tests/unit/test_selftest.c: at most 2e-4), and the
# detail prints it to one digit as the library does (2.6979e-07 -> 3e-7).
import math
c = d['devices'][0]['conv_check']
e = c['max_abs_err']
assert isinstance(e, float) and 0 < e <= 2e-4, 'max_abs_err %r' % e
x = int(math.floor(math.log10(e)))
m = int(round(e / 10 ** x))
if m >= 10:
    m, x = 1, x + 1
assert c['detail'] == 'ok (max err %de%d)' % (m, x), (c['detail'], e)"
fi

# The same as text, verbose: each figure against the time printed beside it (the work over the
# time; the intervals the printed digits allow must meet), the summary line's figures against
# the detail lines', the largest case error against the summary's.
q --bench -v --device 0:0
why=$(not_ok)
if [ -n "$why" ]; then
    bad bench-text "$why"
elif [ -z "$PY" ]; then
    bad bench-text "python3 is needed to check the figures"
elif why=$("$PY" - "$TMP/out" 2>&1 <<'EOF'
import re, sys
from decimal import Decimal
text = open(sys.argv[1], encoding="utf-8").read()

def span(s):
    # the interval a printed number stands for: +- half a unit of its last digit
    d = Decimal(s)
    half = Decimal(5).scaleb(d.as_tuple().exponent - 1)
    return float(d - half), float(d + half)

def agree(what, work, ms, fig):
    (t0, t1), (f0, f1) = span(ms), span(fig)
    lo, hi = work / t1, (work / t0 if t0 > 0 else float("inf"))
    if hi < f0 or lo > f1:
        raise SystemExit("%s: %s ms gives [%.4g, %.4g], printed %s" % (what, ms, lo, hi, fig))

def one(pattern):
    m = re.search(pattern, text, re.M)
    if not m:
        raise SystemExit("no line matching %r in:\n%s" % (pattern, text[-1500:]))
    return m.groups()

ms, gf = one(r"bench conv +1x1 256->128 56x56: ([0-9.]+) ms \(median of \d+\) = ([0-9.]+) GFLOP/s")
agree("conv", 2 * 256 * 128 * 56 * 56 / 1e6, ms, gf)
mib, cms, gbs = one(r"bench copy +(\d+) MiB: ([0-9.]+) ms \(median of \d+\) = ([0-9.]+) GB/s")
agree("copy", 2 * int(mib) * 2**20 / 1e6, cms, gbs)
mms, ips = one(r"bench model +DenseNet-121 224x224 batch 1: ([0-9.]+) ms \(median of \d+\) = "
               r"([0-9.e+]+) images/s")
agree("model", 1000.0, mms, ips)
lat, = one(r"bench launch +([0-9.]+) us per enqueue\+finish")
s_gf, s_gbs, s_lat, s_ips = one(r"bench: ([0-9.]+) GFLOP/s, copy ([0-9.]+) GB/s, launch "
                                r"([0-9.]+) us; DenseNet-121 ([0-9.]+) images/s")
for what, a, b in (("GFLOP/s", gf, s_gf), ("GB/s", gbs, s_gbs), ("us", lat, s_lat),
                   ("images/s", ips, s_ips)):
    (a0, a1), (b0, b1) = span(a), span(b)
    if a1 < b0 or b1 < a0:
        raise SystemExit("summary %s %s, detail %s" % (what, b, a))
cases = re.findall(r"conv check +.*: ok \(max err (\d)e(-?\d+)\)", text)
total = one(r"conv ok \(max err (\d)e(-?\d+)\)")
if len(cases) != 3:
    raise SystemExit("want 3 conv check cases, got %d" % len(cases))
worst = max(cases, key=lambda c: int(c[0]) * 10.0 ** int(c[1]))
if worst != total:
    raise SystemExit("largest case error %se%s, summary %se%s" % (worst + total))
EOF
); then
    ok bench-text
else
    bad bench-text "$(echo "$why" | tail -n 3 | tr '\n' ' ' | head -c 600)"
fi

finish
