"""Two processes on one SQLite file: each sees what the other committed, also after a process opened a second Store.

SQLite guards the write-ahead log with POSIX locks, and a process loses all its locks on a
file as soon as it closes any descriptor of that file.  Opening a second ``Store`` (the CLI
run in process, a serve process's start-up check) must not drop the locks of the
connections already open: without them, another process closing its last connection
takes the database for its own, checkpoints and deletes the log and its index, and the
first process then reads (and writes) a log nobody else sees.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from licensor.controller import store as s

# Another process: set a setting and close its only connection (the last one of that process).
WRITER = """
import sys
from licensor.controller import store as s
db = s.Store(sys.argv[1])
with db.tx() as c:
    s.put_setting(c, sys.argv[2], sys.argv[3])
db.close()
"""
# Another process: print a setting.
READER = """
import sys
from licensor.controller import store as s
db = s.Store(sys.argv[1])
with db.tx(write=False) as c:
    print(s.get_setting(c, sys.argv[2]))
db.close()
"""


def other_process_sets(url: str, key: str, value: str) -> None:
    subprocess.run([sys.executable, "-c", WRITER, url, key, value], check=True, timeout=60)


def read(db: s.Store, key: str) -> str | None:
    with db.tx(write=False) as c:
        return s.get_setting(c, key)


def test_a_second_store_keeps_the_first_ones_view_of_other_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'controller.db'}"
    first = s.Store(url)
    try:
        first.create_schema()
        other_process_sets(url, "k", "1")
        assert read(first, "k") == "1"  # its pooled connection stays open, as a serve process's does
        s.Store(url).close()  # a second Store in this process, opened and closed
        other_process_sets(url, "k", "2")  # a process that opens, commits and closes its last connection
        other_process_sets(url, "k", "3")
        assert read(first, "k") == "3"
        with first.tx() as c:
            s.put_setting(c, "mine", "written here")
        second = s.Store(url)
        try:
            assert read(second, "k") == "3" and read(second, "mine") == "written here"
        finally:
            second.close()
        seen = subprocess.run([sys.executable, "-c", READER, url, "mine"], check=True, timeout=60, capture_output=True, text=True)
        assert seen.stdout.strip() == "written here"  # what this process committed reached the file others read
    finally:
        first.close()
