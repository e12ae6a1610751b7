"""The console's streams (a watch, a followed log) read in a thread: lines arrive as they
come, and a consumer that stops frees the event loop at once, however long the server
would keep the response open (a watch lasts minutes; closing its response from the loop
waited for the reading thread's lock until then)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3

from schemaop.kube.api import _lines


class _Endless(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(2):
            line = f"line {i}\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        time.sleep(30)  # then nothing for a long time, as a quiet watch

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endless() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_stopped_stream_frees_the_loop_at_once(endless: str) -> None:
    pool = urllib3.PoolManager()

    def opener() -> urllib3.BaseHTTPResponse:
        return pool.request("GET", endless, preload_content=False, timeout=60)

    got = []
    started = time.monotonic()
    async with contextlib.aclosing(_lines(opener)) as lines:
        async for line in lines:
            got.append(line)
            if len(got) == 2:
                break  # the consumer leaves while the server keeps the response open
    assert got == [b"line 0", b"line 1"]
    # The loop was not blocked by the close: a tick runs at once.
    tick = time.monotonic()
    await asyncio.sleep(0)
    assert time.monotonic() - tick < 1.0
    assert time.monotonic() - started < 10.0
    # The reading thread ends too (its read woken), closing the connection.
    for _ in range(100):
        if not any(t.name == "schemaop-console-stream" for t in threading.enumerate()):
            break
        await asyncio.sleep(0.05)
    assert not any(t.name == "schemaop-console-stream" for t in threading.enumerate())
    pool.clear()


class _Burst:
    """A response that sends ``n`` lines at once, then ends; ``done`` once all are read."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = threading.Event()

    def stream(self, amt: int, decode_content: bool) -> Iterator[bytes]:
        for i in range(self.n):
            yield f"line {i}\n".encode()
        self.done.set()

    def close(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


async def test_lines_a_slow_reader_missed_are_counted_where_they_were_left_out() -> None:
    from schemaop.kube.api import _QUEUE, Dropped

    burst = _Burst(_QUEUE * 3)
    got: list[bytes | Dropped] = []
    async with contextlib.aclosing(_lines(lambda: burst)) as lines:
        async for item in lines:
            if not got:  # a slow reader: nothing more is read until the sender is done
                await asyncio.to_thread(burst.done.wait, 10)
                await asyncio.sleep(0.2)  # the loop takes what the thread sent
            got.append(item)
    dropped = [item for item in got if isinstance(item, Dropped)]
    texts = [item for item in got if isinstance(item, bytes)]
    assert dropped, "nothing was reported dropped"
    assert len(texts) + sum(d.count for d in dropped) == _QUEUE * 3
    # The lines kept are in order, and a report stands where lines are missing.
    numbers = [int(t.split()[1]) for t in texts]
    assert numbers == sorted(numbers)
    at = got.index(dropped[0])
    before = int(got[at - 1].split()[1]) if at else -1  # type: ignore[union-attr]
    after = int(got[at + 1].split()[1]) if at + 1 < len(got) else _QUEUE * 3  # type: ignore[union-attr]
    assert after - before - 1 == dropped[0].count
