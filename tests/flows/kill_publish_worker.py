"""A campaign run that is killed (SIGKILL) at a fault point inside publishing.

Usage: python -m tests.flows.kill_publish_worker SPEC RUN_ID N

Runs the campaign flow with the settings in the environment (FACTORY_*, PREFECT_API_URL) and
kills itself when the publish store is about to write the N-th object's metadata: that object is
in place under its key, its metadata is not, and the rest of the run's clips are not published.
It never exits normally.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    spec, run_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from flows.settings import get_settings
    from storage.file_store import FileStore

    publish_root = get_settings().store_url.removeprefix("file://")
    real = FileStore._write_meta
    seen = {"objects": 0}

    def write_meta(self, key, meta):
        if os.path.realpath(self.root) == os.path.realpath(publish_root) and \
                not key.endswith("manifest.json"):
            seen["objects"] += 1
            if seen["objects"] == n:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(self, key, meta)

    FileStore._write_meta = write_meta
    from flows.campaign import campaign

    campaign(spec_path=spec, run_id=run_id)
    sys.exit(3)  # not reached: the run is killed while publishing


if __name__ == "__main__":
    main()
