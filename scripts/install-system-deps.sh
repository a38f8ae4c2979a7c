#!/usr/bin/env bash
# Installs the Debian packages that the firmware builds and the emulator need (clang: the second
# compiler tests/test_dsp_toolchains.py builds the DSP kernels with, and with libclang-rt-14-dev,
# its libFuzzer, ASan and profile runtimes, and llvm (llvm-profdata, llvm-cov), the fuzz
# harnesses' compiler and their coverage report, fuzz/device.py; git: tests/test_wheel.py
# lists the files that go into the wheel with it), and the optional
# Fashion-MNIST data set. Where this is not Debian or the user is not root, it prints what to
# install instead and carries on: training and evaluation need none of them.
set -euo pipefail

packages=(gcc g++ gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
          qemu-system-arm cmake clang libclang-rt-14-dev llvm git dataset-fashion-mnist)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "note: not a Debian system; for the firmware builds install: ${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "note: not root; for the firmware builds run: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi

echo "installing Debian packages: ${missing[*]}" >&2
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
