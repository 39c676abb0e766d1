"""`python -m dashboard`: serve the dashboard on TOPICS_HOST:TOPICS_PORT (127.0.0.1:8501), privately.

`streamlit run` reads .streamlit/config.toml from the folder it is started in only: started
anywhere else it listened on every interface, sent usage statistics and showed tracebacks to
the browser. This launcher passes every option explicitly, so where it starts does not matter.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline import settings
from pipeline.errors import UsageError

APP = Path(__file__).resolve().parent / "app.py"


def streamlit_args(host: str, port: str) -> list[str]:
    """The `streamlit` command line that serves the app on ``host``:``port`` and nowhere else."""
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"TOPICS_PORT must be a port number from 1 to 65535, not {port!r}")
    if not host.strip():
        raise UsageError("TOPICS_HOST must name an address (127.0.0.1 for this machine only)")
    return ["run", str(APP),
            "--server.address", host, "--server.port", port, "--server.headless", "true",
            "--browser.gatherUsageStats", "false",   # no usage statistics leave the machine
            "--client.showErrorDetails", "none",     # no traceback or server path in the browser
            "--client.toolbarMode", "viewer"]        # no Deploy button or developer menu


def parse_args(argv: list[str]) -> None:
    """The launcher takes no options, only settings: `--help` says which; any option is a usage error
    (exit 2) rather than ignored, since `--store X` would otherwise serve TOPICS_STORE instead."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Serve the dashboard on TOPICS_HOST:TOPICS_PORT (default 127.0.0.1:8501), reading the store "
                    "TOPICS_STORE names (default data/store). It takes no options: set those variables "
                    "(`python -m pipeline settings` lists them), e.g. TOPICS_STORE=/path python -m dashboard.",
    )
    _, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (no options: set TOPICS_STORE, TOPICS_HOST "
                     "or TOPICS_PORT instead)")


def main() -> int:
    parse_args(sys.argv[1:])
    try:
        args = streamlit_args(settings.get("host"), settings.get("port"))
        settings.min_statements()  # a bad value is said here, not as a broken Trends page
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from streamlit.web import cli

    return cli.main(args, prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
