#!/bin/sh
# Fails when a C source or header differs from what clang-format (with the
# committed .clang-format) would write. Fix with:
#   clang-format -i $(git ls-files '*.c' '*.h')
set -eu
cd "$1"
files=$(find core include tools tests bench gst-plugin examples fuzz -name '*.c' -o -name '*.h' 2>/dev/null | sort)
echo "1..1"
if clang-format --dry-run -Werror $files; then
  echo "ok 1 - $(echo "$files" | wc -l) files are clang-formatted"
else
  echo "not ok 1 - files differ from clang-format (see above)"
  exit 1
fi
