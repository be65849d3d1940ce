"""Starting a process whose port is taken, as a new user meets it (another `make run`
still running): one line saying why, not a traceback."""

from __future__ import annotations

import socket

import pytest

from chatstream.compose import transport_limits
from chatstream.listener import listen
from kernel.errors import ConfigurationError
from kernel.settings import Settings


async def test_a_port_in_use_is_a_configuration_error_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def app(scope: object, receive: object, send: object) -> None:
            raise AssertionError("never served")

        # uvicorn's sys.exit(3) used to escape the serving task (SystemExit, a traceback).
        with pytest.raises(ConfigurationError, match=f"127.0.0.1:{port}.*port"):
            await listen(app, "127.0.0.1", port, "edge", transport_limits(Settings()))
