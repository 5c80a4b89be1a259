"""The ABI system test's table: one column per ABI, one row per figure.

    python3 abi_table.py WORK/abi-armhf.json WORK/abi-arm64.json

Exit 1 when any step of any ABI failed: a non-zero exit code, a precompute with failed
instruments, failed unit tests or a render unlike the x86_64 one.
"""

import json
import re
import sys
from pathlib import Path

# How far a render may be from this machine's (5 s RMS levels; third-octave bands).
LEVEL_TOLERANCE_DB = 1.0
BAND_TOLERANCE_DB = 1.5

ROWS = [
    ("machine", "machine"), ("install_exit", "install.sh exit"), ("install_s", "install (s)"),
    ("from_apt", "from apt"), ("from_pypi", "from PyPI"), ("numpy", "numpy, intp"),
    ("gpiozero", "gpiozero"), ("lgpio", "lgpio"), ("check_exit", "severed check exit"),
    ("precompute_cold", "precompute in install.sh, cold"),
    ("precompute", "precompute, installed cache"),
    ("render_visit_exit", "render visit exit"), ("render_visit_s", "render visit (s)"),
    ("render_visit_faults", "render visit: layers muted"), ("render_visit", "render visit"),
    ("render_reference_exit", "render reference exit"),
    ("render_reference_s", "render reference (s)"),
    ("render_reference_faults", "render reference: layers muted"),
    ("render_reference", "render reference"), ("mdwe", "MemoryDenyWriteExecute probe"),
    ("tests", "unit tests"), ("tests_s", "unit tests (s)"),
    ("bundle_exit", "offline bundle exit"), ("bundle_size", "offline bundle size"),
    ("offline_install_exit", "offline install exit"),
    ("offline_install_s", "offline install (s)"), ("offline_from_apt", "offline: from apt"),
    ("offline_from_bundle", "offline: from the wheelhouse"),
    ("offline_check_exit", "offline: severed check exit"),
]


def failures(d):
    bad = [k for k, v in d.items() if k.endswith("_exit") and v != "0"]
    bad += [k for k, v in d.items() if k.endswith("_faults") and v != "0"]
    if "mdwe" in d and not d["mdwe"].startswith("ok"):
        bad.append("mdwe")
    for key in ("precompute_cold", "precompute"):
        m = re.search(r"(\d+) failed", d.get(key, ""))
        if key in d and (not m or m.group(1) != "0"):
            bad.append(key)
    for key in ("render_visit", "render_reference"):
        # Rounding drift moves levels by tenths of a dB (see compare_wav.py); a silent
        # instrument or a wrong index by whole decibels.
        m = re.search(r"level diff ([0-9.]+) dB, band diff ([0-9.]+) dB", d.get(key, ""))
        if m and (float(m.group(1)) > LEVEL_TOLERANCE_DB or
                  float(m.group(2)) > BAND_TOLERANCE_DB):
            bad.append(key)
    if d.get("severed_installed") == "no":
        bad.append("severed_installed")
    return bad


def main(paths):
    data = {}
    for p in paths:
        arch = Path(p).stem.removeprefix("abi-")
        try:
            data[arch] = json.loads(Path(p).read_text())
        except (OSError, ValueError) as exc:
            data[arch] = {"error": str(exc)}
    failed = False
    for arch, d in data.items():
        print(f"\n== {arch} ==")
        width = max(len(label) for _, label in ROWS)
        for key, label in ROWS:
            if key in d:
                print(f"  {label:<{width}}  {d[key]}")
        bad = failures(d) + (["error"] if "error" in d else [])
        print(f"  {'verdict':<{width}}  {'FAILED: ' + ', '.join(bad) if bad else 'passed'}")
        failed |= bool(bad)
    passed = sum(1 for d in data.values() if not failures(d) and "error" not in d)
    print(f"\nabi: {passed} passed, {len(data) - passed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
