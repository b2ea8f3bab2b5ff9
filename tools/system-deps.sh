#!/bin/sh
# Makes sure the Debian packages Earpiece needs are present.
# As root it installs what is missing; otherwise it prints the exact apt command and fails.
# On a system without dpkg (macOS, other distributions) it says what to install and carries on.
set -eu

# python3-venv: the virtualenv; build-essential + python3-dev + portaudio19-dev: PyAudio has no Linux wheel;
# espeak-ng: the default text-to-speech voice; pulseaudio + libasound2-plugins: the virtual sound card that the
# PyAudio tests use; sox: audio inspection in tests and benchmarks.
PACKAGES="python3-venv build-essential python3-dev portaudio19-dev espeak-ng pulseaudio libasound2-plugins sox"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "system-deps: not a Debian-based system; make sure the equivalents of these are installed: $PACKAGES" >&2
    exit 0
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = "0" ]; then
    echo "system-deps: installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
else
    echo "system-deps: missing Debian packages:$missing" >&2
    echo "system-deps: run this, then try again:  sudo apt-get install -y$missing" >&2
    exit 1
fi
