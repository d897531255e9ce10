#!/bin/sh
# Runs the examples that need no device (examples/, docs/examples.md) on a
# short generated recording. TAP.
# usage: test-examples.sh EXAMPLES_DIR WATCH_BUS_BINARY [sanitized]
# The environment (GST_PLUGIN_PATH_1_0, ...) comes from tests/gst/meson.build.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
ex=$1
watch_bus=$2
n_tests=10
echo "1..$n_tests"
if [ "${3:-}" = sanitized ]; then
  # gst-launch-1.0 and python3 are not built with the sanitizers, so they
  # cannot load the sanitized plugin.
  i=1
  while [ $i -le $n_tests ]; do
    echo "ok $i # SKIP sanitized build: uninstrumented programs cannot load the plugin"
    i=$((i + 1))
  done
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR="$tmp"
ex_dir=$ex
. "$ex/common.sh"
make_wav "$tmp/rec.wav" 3 || { echo "Bail out! cannot generate a WAV"; exit 1; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=1; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
failed=0

# 1. monitor-recording.sh on the generated recording.
if "$ex/monitor-recording.sh" "$tmp/rec.wav" >"$tmp/mon.txt" 2>"$tmp/mon.err" &&
    [ "$(grep -cv '^#' "$tmp/mon.txt")" -ge 10 ] &&
    grep -qE '^0\.000 [^ ]+ [01]\.[0-9]{4}$' "$tmp/mon.txt"; then
  ok "monitor-recording.sh prints $(grep -cv '^#' "$tmp/mon.txt") scores"
else
  cat "$tmp/mon.txt" "$tmp/mon.err" | sed 's/^/# /' | head -20
  not_ok "monitor-recording.sh"
fi

# 2. monitor-recording.sh with its default recording.
if [ -f "$DEFAULT_REC" ]; then
  if "$ex/monitor-recording.sh" >"$tmp/mon2.txt" 2>&1 &&
      [ "$(grep -cv '^#' "$tmp/mon2.txt")" -ge 10 ]; then
    ok "monitor-recording.sh on the default CWRU recording"
  else
    sed 's/^/# /' "$tmp/mon2.txt" | head -20
    not_ok "monitor-recording.sh on the default recording"
  fi
else
  skip "no $DEFAULT_REC"
fi

# 3. record-mkv.sh: one Matroska file with two audio tracks and the scores
# as a subtitle track (a JSON object per window: 3 s at 8 kHz).
if "$ex/record-mkv.sh" "$tmp/rec.wav" "$tmp/out.mkv" >"$tmp/mkv.txt" 2>&1 &&
    [ -s "$tmp/out.mkv" ] &&
    gst-launch-1.0 -q filesrc location="$tmp/out.mkv" ! matroskademux name=d \
      d.audio_0 ! queue ! fakesink d.audio_1 ! queue ! fakesink \
      d.subtitle_0 ! queue ! filesink location="$tmp/scores.txt" \
      >>"$tmp/mkv.txt" 2>&1 &&
    [ "$(grep -o '&quot;class_index&quot;' "$tmp/scores.txt" | wc -l)" -gt 0 ]; then
  ok "record-mkv.sh writes the signal, the dreams and the scores"
else
  sed 's/^/# /' "$tmp/mkv.txt" | head -20
  not_ok "record-mkv.sh"
fi

# 4. render-overlay.sh: a WebM that decodes to 75 frames (3 s at 25/1).
if "$ex/render-overlay.sh" "$tmp/rec.wav" "$tmp/out.webm" 160x90 \
      >"$tmp/webm.txt" 2>&1 && [ -s "$tmp/out.webm" ] &&
    frames=$(gst-launch-1.0 -v filesrc location="$tmp/out.webm" ! \
        matroskademux ! vp8dec ! videoconvert ! \
        video/x-raw,format=GRAY8,width=160,height=90 ! \
        fakesink silent=false 2>&1 | grep -c 'chain') &&
    [ "$frames" -ge 74 ] && [ "$frames" -le 76 ]; then
  ok "render-overlay.sh writes $frames frames"
else
  sed 's/^/# /' "$tmp/webm.txt" | head -20
  echo "# frames: ${frames:-none}"
  not_ok "render-overlay.sh"
fi

# 5. live-alsa.sh: needs a device; syntax only.
if sh -n "$ex/live-alsa.sh"; then
  ok "live-alsa.sh parses (not run: needs a capture device)"
else
  not_ok "live-alsa.sh syntax"
fi

# 6./7. watch-bus (C): scores on stdout, dreams in the CSV.
if [ -x "$watch_bus" ]; then
  if (cd "$tmp" && "$watch_bus" rec.wav c.csv 1 >c.txt 2>c.err) &&
      [ "$(grep -cv '^#' "$tmp/c.txt")" -ge 10 ]; then
    ok "watch-bus prints $(grep -cv '^#' "$tmp/c.txt") scores"
  else
    cat "$tmp/c.txt" "$tmp/c.err" | sed 's/^/# /' | head -20
    not_ok "watch-bus scores"
  fi
  if head -1 "$tmp/c.csv" | grep -q '^timestamp_ns,class,mode,probability,index,value$' &&
      [ "$(wc -l <"$tmp/c.csv")" -gt 100 ]; then
    ok "watch-bus saves the dreams ($(($(wc -l <"$tmp/c.csv") - 1)) samples)"
  else
    not_ok "watch-bus dreams CSV"
  fi
else
  skip "watch-bus not built"
  skip "watch-bus not built"
fi

# 8. watch-bus with OUT.mkv: signal, dreams and the scores as subtitles.
if [ -x "$watch_bus" ]; then
  if (cd "$tmp" && "$watch_bus" rec.wav m.csv 1 m.mkv >m.txt 2>m.err) &&
      subs=$(gst-launch-1.0 -v filesrc location="$tmp/m.mkv" ! \
          matroskademux name=d \
          d.subtitle_0 ! queue ! fakesink sync=false silent=false \
          d.audio_0 ! queue ! fakesink sync=false \
          d.audio_1 ! queue ! fakesink sync=false 2>&1 |
        grep -c 'fakesink0: last-message = chain') &&
      [ "$subs" -eq "$(grep -cv '^#' "$tmp/m.txt")" ]; then
    ok "watch-bus OUT.mkv holds 2 audio tracks and $subs subtitles"
  else
    cat "$tmp/m.txt" "$tmp/m.err" | sed 's/^/# /' | tail -20
    echo "# subtitles: ${subs:-none}"
    not_ok "watch-bus OUT.mkv"
  fi
else
  skip "watch-bus not built"
fi

# 9. watch-bus.py: the same scores and CSV as the C program.
# Debian's interpreter has the bindings; a python3 earlier on PATH (pyenv,
# a venv) may not.
PY=python3
if [ -x /usr/bin/python3 ]; then
  PY=/usr/bin/python3
fi
if ! $PY -c "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst" 2>/dev/null; then
  skip "python3 GStreamer bindings missing (Debian: python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0)"
elif (cd "$tmp" && $PY "$ex/watch-bus.py" rec.wav py.csv 1 >py.txt 2>py.err) &&
    [ -f "$tmp/c.txt" ] && cmp -s "$tmp/c.txt" "$tmp/py.txt" &&
    [ "$(wc -l <"$tmp/py.csv")" -eq "$(wc -l <"$tmp/c.csv")" ]; then
  ok "watch-bus.py matches watch-bus"
else
  cat "$tmp/py.txt" "$tmp/py.err" | sed 's/^/# /' | head -20
  not_ok "watch-bus.py"
fi
# 10. multichannel.sh: three recordings (the CWRU ones next to the
# checkout, else vibrationsrc's) as channels 0-2 of one stream, each
# channel's class right on >= 95 % of its windows (the script's exit
# status).
if "$ex/multichannel.sh" >"$tmp/mc.txt" 2>&1 &&
    [ "$(grep -c ' ok$' "$tmp/mc.txt")" -eq 3 ]; then
  ok "multichannel.sh: $(grep -v '^#' "$tmp/mc.txt" | tr '\n' ';')"
else
  sed 's/^/# /' "$tmp/mc.txt" | head -20
  not_ok "multichannel.sh"
fi
exit $failed
