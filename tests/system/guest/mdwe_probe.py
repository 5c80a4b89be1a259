"""Does a ctypes callback (a libffi closure) work under MemoryDenyWriteExecute=yes?

systemd's MemoryDenyWriteExecute= forbids memory that is writable and executable at
once, and making a mapping executable later. Linux 6.3+ has the same rule per process
as prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): this sets it, then builds and calls
the same kind of callback as severed.hardware.pyaudio_sink (ALSA's error handler).

    python3 mdwe_probe.py        prints "ok: ..." (exit 0) or what failed (exit 1)

Exit 2: this kernel has no PR_SET_MDWE (nothing was tested). Under qemu-user the guest's
memory is qemu's to map: run it natively (x86_64, i386) or on the Pi itself.
"""

import ctypes
import platform
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print(f"no PR_SET_MDWE here (errno {ctypes.get_errno()}): nothing tested")
        return 2
    # The rule holds: an anonymous writable and executable mapping is refused now.
    mmap = libc.mmap
    mmap.restype = ctypes.c_void_p
    mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                     ctypes.c_int, ctypes.c_long)
    rwx = mmap(None, 4096, 0x1 | 0x2 | 0x4, 0x02 | 0x20, -1, 0)  # RWX, private anon
    if rwx not in (None, ctypes.c_void_p(-1).value):
        print("PR_SET_MDWE did not refuse a writable+executable mapping: nothing tested")
        return 2
    handler_t = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_char_p)
    seen = []
    try:
        handler = handler_t(lambda *args: seen.append(args))
    except Exception as exc:
        print(f"FAILED: a ctypes callback cannot be made: {type(exc).__name__}: {exc}")
        return 1
    handler(b"file.c", 1, b"func", 0, b"message")
    if seen != [(b"file.c", 1, b"func", 0, b"message")]:
        print(f"FAILED: the callback did not run as called: {seen}")
        return 1
    print(f"ok: a ctypes callback works with writable+executable memory refused "
          f"({platform.machine()}, {8 * ctypes.sizeof(ctypes.c_void_p)}-bit, "
          f"Python {platform.python_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
