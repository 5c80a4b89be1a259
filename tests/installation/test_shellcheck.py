"""Every shell script in the repository passes shellcheck.

Skipped where shellcheck is not installed (CI installs it). Scripts of this part
(installation/install.sh, uninstall.sh, lib/) must be clean; a failure in another
part's script is reported as an expected failure naming the findings, so it shows in
every run without blocking this directory.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
OWN = {"installation/install.sh", "installation/uninstall.sh", "installation/lib/common.sh",
       "installation/lib/packages.sh", "installation/offline-bundle.sh",
       "tests/system/abi-root.sh", "tests/system/abi-test.sh", "tests/system/lib.sh"}
SKIP_DIRS = {".git", ".venv", "node_modules", "build", "dist"}


def shell_scripts():
    found = []
    for path in sorted(CHECKOUT.rglob("*")):
        rel = path.relative_to(CHECKOUT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if not path.is_file():
            continue
        if path.suffix == ".sh":
            found.append(str(rel))
            continue
        try:
            first = path.open("rb").readline(80)
        except OSError:
            continue
        if first.startswith(b"#!") and (b"bash" in first or first.rstrip().endswith(b"/sh")):
            found.append(str(rel))
    return found


SCRIPTS = shell_scripts()


def test_own_scripts_are_found():
    assert OWN <= set(SCRIPTS)


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck not installed (apt-get install -y shellcheck)")
@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
    path = CHECKOUT / script
    proc = subprocess.run(["shellcheck", "-x", "--format=gcc", path.name],
                          cwd=path.parent, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and script not in OWN:
        pytest.xfail(f"{script} (not part of the installer) has shellcheck findings:\n"
                     f"{proc.stdout}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck not installed (apt-get install -y shellcheck)")
@pytest.mark.parametrize("script", sorted(OWN))
def test_shellcheck_without_following_sources(script):
    # As an editor's linter runs it, one file alone: a variable that only a sourced file
    # uses must not look unused (SC2034).
    path = CHECKOUT / script
    proc = subprocess.run(["shellcheck", "--severity=warning", "--format=gcc", path.name],
                          cwd=path.parent, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
