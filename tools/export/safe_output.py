# SPDX-License-Identifier: MIT
"""How densecl's Python tools write files: the rules the C tools follow (host/base/files.c and
tools/cli/cli.c), in one place for every script that writes (README, "The tools").

  - The output's symbolic links are followed to the name they end at; that file is written and
    the links stay links. A character device (/dev/null), a FIFO and a name of one of the
    process's own descriptors (/dev/stdout, /dev/fd/N) are written into, never replaced; a
    directory, a block device or a socket is refused.
  - A regular file (or a new one) is written to a temporary ".NAME.densecl-PID-XXXXXX" in the
    real directory of NAME, synced, and renamed over it once complete: a failed or interrupted
    write leaves the old file as it was. It keeps the old file's permissions (a new one gets
    0666 less the umask). Temporaries of dead processes older than 10 minutes are removed.
  - A file that is a mount point (a bind-mounted single file, as `docker -v out:/out` gives)
    cannot be renamed over: that is found before the run, said in one note, and the complete
    temporary is then copied into it in place.
  - An output that names one of the command's inputs, or another of its outputs, is refused
    before anything is read or written (check_outputs).

Needs only the standard library.
"""

import errno
import os
import secrets
import stat
import string
import sys
import time

TEMP_TAG = ".densecl-"
TEMP_STALE_SECONDS = 600
TEMP_BASE_MAX = 200
_ALPHABET = string.ascii_letters + string.digits


class OutputError(Exception):
    """A refused output; str() is the one-line message, .usage tells a usage error (exit 2)."""

    def __init__(self, message, usage=False):
        super().__init__(message)
        self.usage = usage


def _own_fd(path):
    """The descriptor a name of the process's own descriptors refers to, or None."""
    if path == "/dev/stdout":
        return 1
    if path == "/dev/stderr":
        return 2
    for prefix in ("/dev/fd/", "/proc/self/fd/"):
        rest = path[len(prefix):]
        if path.startswith(prefix) and rest.isdigit() and rest.isascii() and len(rest) < 8:
            return int(rest)
    return None


def _mode_name(mode):
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _unescape_mountinfo(field):
    """/proc/self/mountinfo writes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def is_mount_point(path):
    """Whether the existing file path is a mount point: on another device than its directory,
    or listed in /proc/self/mountinfo (a bind mount from the same file system)."""
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(os.path.abspath(path)) or "/")
    except OSError:
        return False
    if st.st_dev != parent.st_dev:
        return True
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split(" ")
                if len(fields) > 4 and _unescape_mountinfo(fields[4]) == real:
                    return True
    except OSError:
        pass
    return False


class Target:
    """Where an output goes: path as given; real, the name its links end at; kind "fd" (one of
    our descriptors: fd), "stream" (a character device or FIFO) or "file" (a regular file or
    none yet; in_place when it is a mount point); st, the stat of real when it exists."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.st = None
        self.in_place = False
        cur = path
        for _ in range(41):
            fd = _own_fd(cur)
            if fd is not None:
                self.real, self.kind, self.fd = cur, "fd", fd
                return
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                self.real, self.kind = cur, "file"
                return
            except OSError as exc:
                raise OutputError(f"{path}: {exc.strerror}") from None
            if not stat.S_ISLNK(st.st_mode):
                break
            target = os.readlink(cur)
            cur = target if os.path.isabs(target) else \
                os.path.join(os.path.dirname(cur), target)
        else:
            raise OutputError(f"{path}: cannot follow its symbolic links: too many levels")
        self.real, self.st = cur, st
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            self.kind = "stream"
        elif stat.S_ISREG(st.st_mode):
            self.kind = "file"
            self.in_place = is_mount_point(cur)
        else:
            raise OutputError(f"{path} is {_mode_name(st.st_mode)}: densecl writes only regular "
                              f"files, character devices (such as /dev/null) and FIFOs")


def _canonical(path):
    """path with its links and "." / ".." resolved, also when it does not exist yet."""
    return os.path.realpath(os.path.abspath(path))


def _same_file(a, b):
    try:
        sa, sb = os.stat(a), os.stat(b)
        if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
            return True
    except OSError:
        pass
    return _canonical(a) == _canonical(b)


def check_outputs(outputs, inputs, prog, noted=None):
    """Applies the rules before any work. outputs, inputs: [(option, path)] (None paths are
    skipped). Refuses (OutputError, a usage error) an output that is one of the inputs or
    another output; an output that would be refused later (a directory) is refused now. Prints
    a note for an output that is a mount point, once: noted, a set of the paths noted so far,
    lets a second check stay quiet about them. Returns {path: Target}."""
    noted = set() if noted is None else noted
    targets = {}
    checked = []
    for opt, path in outputs:
        if path is None:
            continue
        t = Target(path)
        targets[path] = t
        if t.kind != "file":
            continue  # a device, FIFO or descriptor clobbers nothing
        for in_opt, in_path in inputs:
            if in_path is not None and _same_file(path, in_path):
                raise OutputError(f"{opt} {path} is also an input ({in_opt} {in_path}): it "
                                  f"would be overwritten", usage=True)
        for other_opt, other in checked:
            if _same_file(path, other):
                raise OutputError(f"{opt} {path} is also the output of {other_opt} ({other}): "
                                  f"one would overwrite the other", usage=True)
        checked.append((opt, path))
        if t.in_place and path not in noted:
            noted.add(path)
            print(f"{prog}: note: {path} is a mount point (a bind-mounted file?): it cannot be "
                  f"replaced atomically, so it is written in place once the output is complete",
                  file=sys.stderr, flush=True)
    return targets


def _umask():
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def remove_stale_temps(directory):
    """Removes the temporaries of dead writers (C or Python) in directory."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    now = time.time()
    for name in names:
        at = name.rfind(TEMP_TAG)
        if not name.startswith(".") or at < 0:
            continue
        rest = name[at + len(TEMP_TAG):]
        pid_text, _, suffix = rest.partition("-")
        if not (pid_text.isdigit() and pid_text.isascii() and len(pid_text) <= 9
                and len(suffix) == 6):
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except OSError:
            continue  # someone else's, alive
        full = os.path.join(directory, name)
        try:
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= TEMP_STALE_SECONDS:
                os.unlink(full)
        except OSError:
            pass


def _make_temp(directory, base, mode):
    """A new temporary's (descriptor, path) in directory."""
    for _ in range(100):
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(6))
        path = os.path.join(directory, f".{base[:TEMP_BASE_MAX]}{TEMP_TAG}{os.getpid()}-{suffix}")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC |
                         os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        os.fchmod(fd, mode)
        return fd, path
    raise OSError(errno.EEXIST, "no unused temporary name")


def _write_all(fd, blob):
    view = memoryview(blob)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class OutputFile:
    """An output being written by the rules above: write() any number of times, then commit()
    (the file is then in place) or abort() (the old file stays as it was). As a context
    manager it commits when the block ends normally and aborts on an exception. target:
    check_outputs' Target for path; prog names the program in a note."""

    def __init__(self, path, target=None, prog="densecl"):
        self.path, self.prog = path, prog
        self.fd = self.tmp = None
        self.t = target or Target(path)
        if self.t.kind == "fd":
            sys.stdout.flush()
            sys.stderr.flush()
            self.fd = os.dup(self.t.fd)
            return
        if self.t.kind == "stream":
            # Blocks until a FIFO has a reader: the reader is what the user named it for.
            self.fd = os.open(self.t.real, os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY)
            return
        directory = os.path.dirname(self.t.real) or "."
        base = os.path.basename(self.t.real)
        try:
            mode = stat.S_IMODE(os.stat(self.t.real).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        remove_stale_temps(directory)
        try:
            self.fd, self.tmp = _make_temp(directory, base, mode)
        except OSError as exc:
            if not self.t.in_place:
                raise OutputError(f"{path}: cannot create a file in {directory}: "
                                  f"{exc.strerror}") from None
            # In place anyway: a temporary where there is room for one.
            self.fd, self.tmp = _make_temp(os.environ.get("TMPDIR") or "/tmp", base, 0o600)

    def write(self, data):
        _write_all(self.fd, data.encode("utf-8") if isinstance(data, str) else data)

    def commit(self):
        try:
            if self.tmp is None:
                return
            os.fsync(self.fd)
            if not self.t.in_place:
                try:
                    os.replace(self.tmp, self.t.real)
                    self.tmp = None
                    return
                except OSError as exc:
                    if exc.errno not in (errno.EBUSY, errno.EXDEV):
                        raise
                    # A mount point that check_outputs did not see: in place, saying so.
                    print(f"{self.prog}: note: {self.path} cannot be renamed over "
                          f"({exc.strerror}): written in place", file=sys.stderr, flush=True)
            self._copy_in_place()
        finally:
            self.abort()

    def _copy_in_place(self):
        out = os.open(self.t.real, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC | os.O_NOCTTY)
        try:
            offset = 0
            while True:
                chunk = os.pread(self.fd, 1 << 20, offset)
                if not chunk:
                    break
                _write_all(out, chunk)
                offset += len(chunk)
            os.fsync(out)
        finally:
            os.close(out)

    def abort(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tmp is not None:
            if os.path.lexists(self.tmp):
                os.unlink(self.tmp)
            self.tmp = None

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.commit()
        else:
            self.abort()
        return False


def write_bytes(path, blob, target=None, prog="densecl"):
    """Writes blob to path by the rules above (target: check_outputs' Target for path; prog
    names the program in a note)."""
    with OutputFile(path, target, prog) as f:
        f.write(blob)
