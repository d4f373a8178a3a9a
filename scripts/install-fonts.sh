#!/usr/bin/env bash
# Placeholder replaced by the subtitles stage (installs CJK/Arabic fonts into fonts/).
exit 0
