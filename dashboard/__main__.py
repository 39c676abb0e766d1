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


def main() -> int:
    try:
        args = streamlit_args(settings.get("host"), settings.get("port"))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from streamlit.web import cli

    return cli.main(args, prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
