"""One worker process for the claim tests: waits for its peers, then asks the cache for a key.

Usage: python -m tests.storage.cache_worker DB_URL STORE_DIR LOCAL_DIR KEY COUNT_FILE GATE_DIR N
Prints the CachedRender as JSON. ``produce`` appends a line to COUNT_FILE (one line = one
model call) and takes a second, so the workers' requests overlap.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    db_url, store_dir, local_dir, key, count_file, gate_dir, n = sys.argv[1:8]
    from storage.cache import TemplateCache
    from storage.db import open_database
    from storage.file_store import FileStore

    cache = TemplateCache(open_database(db_url), FileStore(store_dir), max_bytes=10**9,
                          worker_id=f"test:{os.getpid()}", local_dir=local_dir, claim_ttl_s=30,
                          poll_s=0.05)
    gate = Path(gate_dir)
    (gate / str(os.getpid())).touch()
    deadline = time.monotonic() + 30
    while len(list(gate.iterdir())) < int(n) and time.monotonic() < deadline:
        time.sleep(0.01)

    def produce(path: Path) -> None:
        with open(count_file, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        path.write_bytes(b"render of " + key.encode() * 100)

    got = cache.get_or_render(key, produce, request={"width": 64, "height": 32, "frames": 9,
                                                     "fps": 16}, backend="animatic",
                              fingerprint="fp")
    print(json.dumps({"hit": got.hit, "sha256": got.sha256, "bytes": got.path.read_bytes().hex()}))


if __name__ == "__main__":
    main()
