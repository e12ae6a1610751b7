"""``schemaop sidecar``: serve the database's active schema over HTTP.

Configuration comes from flags and environment variables, read once here (see
:mod:`schemaop.sidecar.config` for the table of names); aiohttp and psycopg are
imported only when the command runs. Exits 2 on a configuration error, with a
message and no traceback; SIGTERM and SIGINT stop it cleanly (exit 0); a shutdown that hangs for
``SHUTDOWN_GRACE`` seconds prints every thread's stack and exits 1.
"""

from __future__ import annotations

import argparse

# Seconds a clean shutdown may take before the process exits anyway. Well under
# Kubernetes' default terminationGracePeriodSeconds (30), so a stuck shutdown is
# reported by us, with stacks, rather than ended silently by SIGKILL.
SHUTDOWN_GRACE = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve the active schema, a JSON Schema per table and live change events over "
        "HTTP. The database URL comes from SCHEMAOP_DATABASE_URL (or libpq's PG* "
        "variables, or --database-url-file); connect with a read-only role."
    )
    add = parser.add_argument
    from schemaop.redaction import path_argument, schema_list_argument, schema_name_argument

    add(
        "--database-url-file",
        metavar="PATH",
        type=path_argument,
        help="read the database URL from this file",
    )
    add(
        "--schemas",
        type=schema_list_argument,
        help="comma-separated managed schemas [SCHEMAOP_SCHEMAS; public]",
    )
    add(
        "--history-schema",
        type=schema_name_argument,
        help="schema of schemaop's history table [schemaop]",
    )
    add("--host", help="address to listen on [SCHEMAOP_SIDECAR_HOST; 0.0.0.0]")
    add("--port", type=int, help="port to listen on [SCHEMAOP_SIDECAR_PORT; 8080]")
    add("--poll-interval", type=float, help="seconds between fallback polls [30]")
    add("--rate-limit", type=float, help="requests per second per client, 0 = off [20]")
    add("--rate-burst", type=int, help="bucket size of the rate limit [40]")
    add(
        "--token-file",
        metavar="PATH",
        type=path_argument,
        help="require this bearer token on /api/ [none]",
    )
    add("--cors-origins", help="comma-separated allowed origins, or * [none]")
    add("--access-log", action="store_true", default=None, help="log every request")
    add("--header-timeout", type=float, help="seconds for a request's headers to arrive [10]")
    add("--trusted-proxies", help="comma-separated CIDRs whose X-Forwarded-For counts [none]")
    add("--log-level", choices=["debug", "info", "warning", "error"], help="[info]")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import os
    import signal
    import sys

    from schemaop.redaction import install_log_scrubber, scrub
    from schemaop.sidecar.config import ConfigError, load_config

    # Every log record goes through the scrubber (also when not started by cli.main).
    install_log_scrubber()
    try:
        config = load_config(vars(args), os.environ)
    except ConfigError as exc:
        print(f"schemaop sidecar: {scrub(str(exc))}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # psycopg logs connection failures with the connection string's host; keep it quiet.
    logging.getLogger("psycopg").setLevel(logging.ERROR)

    from schemaop.sidecar.app import serve

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if not stop.is_set():
                stop.set()
                _start_watchdog(SHUTDOWN_GRACE)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        try:
            await serve(config, stop)
        except OSError as exc:
            print(
                f"schemaop sidecar: cannot listen on {scrub(config.host)}:{config.port}: "
                f"{exc.strerror}",
                file=sys.stderr,
            )
            return 1
        return 0

    try:
        import uvloop  # optional: a faster event loop when installed
    except ImportError:
        return asyncio.run(main())
    return int(uvloop.run(main()))


def _start_watchdog(grace: float, prog: str = "schemaop sidecar") -> None:
    """Exit after ``grace`` seconds even if something in the shutdown hangs.

    A daemon thread, so a shutdown that finishes in time is not held up by it.
    When it fires, it prints every thread's stack first: a hang is a bug, and
    the stacks say where it is. Also the console's (``prog`` names the command).
    """
    import faulthandler
    import os
    import sys
    import threading

    def expire() -> None:
        print(
            f"{prog}: shutdown did not finish within {grace:g}s; exiting anyway (stacks follow)",
            file=sys.stderr,
            flush=True,
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(1)

    timer = threading.Timer(grace, expire)
    timer.daemon = True
    timer.start()
