#!/usr/bin/env bash
# Build the compiled DSP core with AddressSanitizer and UndefinedBehaviorSanitizer,
# warnings as errors, and run the engine's tests against that build.
#
#   tests/engine/kernels_sanitize.sh [PYTEST ARGS...]   default: tests/engine
#
# The build goes to a temporary copy of the package, put first on PYTHONPATH, so the
# checkout's own build is left alone. Python itself is not instrumented: libasan is
# preloaded, and leak detection is off (the interpreter keeps memory until exit).
# Any out-of-bounds access or undefined behaviour in a kernel stops the run with a
# report and a non-zero exit. Uses .venv/bin/python, or $PYTHON.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$here/setup.py" "$here/setup.cfg" "$here/pyproject.toml" "$here/README.md" "$work/"
mkdir "$work/src"
cp -r "$here/src/severed" "$work/src/"
find "$work/src" \( -name '*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -Werror"
if ! (cd "$work" && CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
        "$python" setup.py build_ext --inplace >"$work/build.log" 2>&1); then
    cat "$work/build.log" >&2
    echo "kernels_sanitize: the sanitizer build failed" >&2
    exit 1
fi
ls "$work"/src/severed/engine/_kernels*.so >/dev/null

export PYTHONPATH="$work/src${PYTHONPATH:+:$PYTHONPATH}"
LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export LD_PRELOAD
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
built=$("$python" -c 'import severed.engine._kernels as k; print(k.__file__)')
case "$built" in
    "$work"/*) echo "kernels_sanitize: testing $built" >&2 ;;
    *) echo "kernels_sanitize: the sanitizer build was not picked up ($built)" >&2; exit 1 ;;
esac
cd "$here"
[ $# -gt 0 ] || set -- tests/engine
"$python" -m pytest -q -p no:cacheprovider "$@"
