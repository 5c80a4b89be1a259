# shellcheck shell=bash disable=SC2034  # the lists are for the scripts that source this
# The Debian packages severed installs, shared by install.sh and offline-bundle.sh (a
# bundle must hold what install.sh will ask apt for).

# Always: Python, the venv, ALSA's tools and the Python libraries the daemon imports.
APT_PACKAGES=(python3 python3-venv python3-setuptools python3-wheel alsa-utils
              python3-numpy python3-pyaudio python3-systemd python3-gpiozero)
# The compiled engine core (setup.py) is built by pip on the target.
COMPILER_PACKAGES=(gcc python3-dev)
# GPIO backends for gpiozero, where the archive has them (Raspberry Pi OS does; plain
# Debian does not): see gpio_packages in install.sh for which one a board gets.
GPIO_PACKAGES=(python3-lgpio python3-rpi-lgpio python3-rpi.gpio)
# Only when apt has no python3-pyaudio or python3-systemd: pip compiles them.
BUILD_PACKAGES=(python3-dev gcc pkg-config portaudio19-dev libsystemd-dev)
