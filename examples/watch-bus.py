#!/usr/bin/env python3
"""watch-bus.py: the Python version of watch-bus.c.

Runs a seqdream pipeline on a WAV file, watches its bus, prints one line
per scored window ("time_s class confidence") and saves the dreams as CSV
(long format: timestamp_ns,class,mode,probability,index,value).

usage: watch-bus.py REC.wav [DREAMS.csv] [DREAM-INTERVAL-SECONDS]
(no OUT.mkv: the subtitle recording is in the C version only)

Needs PyGObject and GStreamer's introspection data (Debian: python3-gi,
python3-gst-1.0, gir1.2-gstreamer-1.0). Run uninstalled with
GST_PLUGIN_PATH=build/gst-plugin.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import csv
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def array(structure, field):
    """A GST_TYPE_ARRAY field as a Python list (with or without gst-python's
    overrides: Gst.ValueArray, GObject.ValueArray or a plain list)."""
    try:
        value = structure.get_value(field)
        return [float(v) for v in value]
    except (TypeError, ValueError):
        pass
    ok, value = structure.get_array(field)
    if not ok or value is None:
        return []
    if hasattr(value, "get_nth"):
        return [value.get_nth(i) for i in range(value.n_values)]
    return [float(v) for v in value]


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rec = sys.argv[1]
    csv_path = sys.argv[2] if len(sys.argv) > 2 else "dreams.csv"
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0

    Gst.init(None)
    pipeline = Gst.parse_launch(
        "filesrc name=in ! wavparse ! audioconvert ! "
        f"seqdream name=s dream-trigger=interval dream-interval={int(interval * Gst.SECOND)} ! "
        "fakesink s.dream_src ! queue ! fakesink sync=false")
    pipeline.get_by_name("in").set_property("location", rec)

    out = open(csv_path, "w", newline="")
    writer = csv.writer(out)
    writer.writerow(["timestamp_ns", "class", "mode", "probability", "index", "value"])
    counts = {"windows": 0, "dreams": 0, "failed": False}
    loop = GLib.MainLoop()

    def on_element(s):
        if s.get_name() == "seqdream":
            ts = s.get_value("timestamp")
            print(f"{ts / 1e9:.3f} {s.get_string('class')} {s.get_double('confidence')[1]:.4f}")
            counts["windows"] += 1
        elif s.get_name() == "seqdream-dream":
            ts = s.get_value("timestamp")
            cls, mode = s.get_string("class"), s.get_string("mode")
            p = s.get_double("probability")[1]
            for i, v in enumerate(array(s, "sequence")):
                writer.writerow([ts, cls, mode, f"{p:.6f}", i, f"{v:.7g}"])
            counts["dreams"] += 1

    def on_message(_bus, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            on_element(msg.get_structure())
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"error: {err.message}\n{dbg}", file=sys.stderr)
            counts["failed"] = True
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()
        return True

    bus = pipeline.get_bus()
    bus.add_watch(GLib.PRIORITY_DEFAULT, on_message)
    print("# time_s class confidence")
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        counts["failed"] = True
    else:
        loop.run()
    pipeline.set_state(Gst.State.NULL)
    while True:  # messages still queued at EOS
        msg = bus.pop()
        if msg is None:
            break
        if msg.type == Gst.MessageType.ELEMENT:
            on_element(msg.get_structure())
    bus.remove_watch()
    out.close()
    print(f"{counts['windows']} windows, {counts['dreams']} dreams -> {csv_path}", file=sys.stderr)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
