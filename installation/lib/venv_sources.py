"""Where the venv's copy of each of severed's Python dependencies comes from: apt
(Debian's dist-packages, seen through --system-site-packages) or PyPI (pip put it in
the venv itself). Run with the venv's python; prints two lines for install.sh:

    apt: numpy 1.24.2, PyAudio 0.2.13, systemd-python 235, gpiozero 1.6.2
    pypi: lgpio 0.2.2.0
"""

import importlib.metadata as metadata
import sys
from pathlib import Path

# severed's requirements and the GPIO backends gpiozero may use.
NAMES = ("numpy", "PyAudio", "systemd-python", "gpiozero", "lgpio", "rpi-lgpio", "RPi.GPIO")


def main():
    venv = Path(sys.prefix).resolve()
    sources = {"apt": [], "pypi": []}
    for name in NAMES:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        where = Path(dist.locate_file("")).resolve()
        if venv in where.parents or where == venv:
            kind = "pypi"
        elif str(where).startswith("/usr/lib/python3"):
            kind = "apt"
        else:  # /usr/local (a pip outside any venv), a user's site-packages
            kind = f"other ({where})"
        sources.setdefault(kind, []).append(f"{dist.metadata['Name']} {dist.version}")
    for kind, found in sources.items():
        print(f"{kind}: {', '.join(found) or 'nothing'}")


if __name__ == "__main__":
    main()
