"""A loopback HTTP server over a folder, for download tests (nothing leaves the machine)."""
from __future__ import annotations

import http.server
import threading
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Iterator


class _Handler(http.server.SimpleHTTPRequestHandler):
    chunk_delay_s = 0.0

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        # Send in 64 KiB pieces, optionally paced, so that progress and cancelling can be observed.
        while True:
            buf = source.read(1 << 16)
            if not buf:
                break
            try:
                outputfile.write(buf)
                outputfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away (a cancelled download)
            if self.chunk_delay_s:
                time.sleep(self.chunk_delay_s)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve_folder(folder: Path, chunk_delay_s: float = 0.0) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port); yields the base URL ending in '/'."""
    handler = type("Handler", (_Handler,), {"chunk_delay_s": chunk_delay_s})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
