"""The watchdog of scripts/watchdog (see there); standard library only, so
it runs with any python3."""
import os
import shutil
import signal
import subprocess
import sys
import time


def usage(msg):
    sys.stderr.write("watchdog: %s\n" % msg)
    sys.stderr.write("usage: watchdog [--seconds S | --table FILE --column NAME]"
                     " [--] CMD...\n")
    sys.exit(2)


def read_table(path, column):
    """{program: seconds or None} of one column of the table."""
    try:
        lines = [l.split() for l in open(path) if l.strip() and
                 not l.lstrip().startswith("#")]
    except OSError as e:
        usage("cannot read the table %s: %s" % (path, e.strerror))
    header = lines[0]
    if column not in header[1:]:
        usage("%s has no column '%s' (it has %s)" %
              (path, column, ", ".join(header[1:])))
    k = header.index(column)
    table = {}
    for row in lines[1:]:
        if len(row) != len(header):
            usage("%s: the row of %s has %d fields, the header %d" %
                  (path, row[0], len(row), len(header)))
        table[row[0]] = None if row[k] == "-" else float(row[k])
    return table


def limit_from_table(table, cmd):
    for word in cmd:
        name = os.path.basename(word)
        if name in table:
            return name, table[name]
    return os.path.basename(cmd[0]), None


def children(pid):
    """Every descendant of pid, parents first."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: split after it
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        for c in sorted(kids.get(p, [])):
            out.append(c)
            todo.append(c)
    return out


def comm(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def dump_stacks(pid):
    """Every thread's stack of pid: vgdb for valgrind, else gdb."""
    cmdline = comm(pid)
    first = os.path.basename(cmdline.split(" ")[0]) if cmdline else ""
    if "valgrind" in first or "memcheck" in first:
        tool = shutil.which("vgdb")
        cmd = [tool, "--pid=%d" % pid, "v.info scheduler"] if tool else None
    else:
        tool = shutil.which("gdb")
        cmd = [tool, "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
               "-ex", "thread apply all bt"] if tool else None
    sys.stderr.write("\n---- watchdog: threads of %d: %s\n" % (pid, cmdline))
    if cmd is None:
        sys.stderr.write("(no %s on this machine: no stacks)\n" %
                         ("vgdb" if "valgrind" in first else "gdb"))
        return
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        sys.stderr.write(r.stdout.decode(errors="replace"))
    except subprocess.TimeoutExpired:
        sys.stderr.write("(%s took over 120 s: no stacks)\n" % cmd[0])


def main():
    args = sys.argv[1:]
    seconds = None
    table = column = None
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--":
            break
        if not args:
            usage("%s needs a value" % opt)
        if opt == "--seconds":
            seconds = float(args.pop(0))
        elif opt == "--table":
            table = args.pop(0)
        elif opt == "--column":
            column = args.pop(0)
        else:
            usage("unknown option %s" % opt)
    if not args:
        usage("no command")
    name = os.path.basename(args[0])
    if table is not None:
        if column is None:
            usage("--table needs --column")
        name, seconds = limit_from_table(read_table(table, column), args)
    scale = float(os.environ.get("SEQDREAM_WATCHDOG_SCALE", "1") or "1")
    if seconds is not None:
        seconds *= scale

    # Its own process group, so that the kill reaches every child.
    proc = subprocess.Popen(args, start_new_session=True)
    forward = lambda sig, frame: os.killpg(proc.pid, sig)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass
    sys.stderr.write("\n==== watchdog: %s still running after %.0f s: every "
                     "thread's stack, then kill\n" % (name, seconds))
    for pid in [proc.pid] + children(proc.pid):
        dump_stacks(pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    sys.stderr.write("==== watchdog: %s killed after %.0f s\n" % (name, seconds))
    return 124


if __name__ == "__main__":
    sys.exit(main())
