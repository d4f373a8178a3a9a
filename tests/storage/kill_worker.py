"""A process that is killed (SIGKILL) at a fault point inside a store write, for the kill tests.

Usage: python -m tests.storage.kill_worker STORE_DIR KEY SRC_FILE N

Stores SRC_FILE under KEY in a FileStore at STORE_DIR and kills itself just before the N-th
``os.replace`` the store makes (1: the object's rename, 2: the metadata's rename). N = 0 kills
it right after the temporary copy is written, before any rename. It never exits normally.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys


def main() -> None:
    store_dir, key, src, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    from storage import file_store
    from storage.file_store import FileStore

    calls = {"replace": 0}
    real_replace, real_copy = os.replace, shutil.copyfile

    def replace(a, b):
        calls["replace"] += 1
        if calls["replace"] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(a, b)

    def copyfile(a, b):
        out = real_copy(a, b)
        if n == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    file_store.os.replace = replace  # the module's os is the os module: patch the function
    file_store.shutil.copyfile = copyfile
    FileStore(store_dir).put_file(key, src, metadata={"run": "r1"})
    sys.exit(3)  # not reached when the fault point is


if __name__ == "__main__":
    main()
