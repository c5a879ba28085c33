"""`chathub bench`: a load generator that measures chathub, the tutorial baseline and redis-server.

Rules:
- The bench is a client. It talks to its target over sockets and starts it, when asked, as a
  separate process: it never imports `chathub.cli` or the server's modules (hub, adapters,
  service); `chathub.config` (pure) is the one part of chathub it reads, for the hub's flags,
  with `chathub.tokens` (pure, and imported by `chathub.config` anyway), to make the API token
  a started hub accepts when the bench publishes over HTTP.
  The baseline (`baseline.py`) is the exception that proves it: a server of its own, run as
  `python -m chathub.bench.baseline`, imported by nothing.
- Importing this package is cheap: `main` imports the bench when it is called, so `chathub.cli`
  can name it without loading it.
- The modules: `run.py` the command line and a run, `target.py` the process measured,
  `capacity.py` the search for the highest passing rate, `load.py` the connections and their
  reads, `trial.py` one measured run, `conn.py` one connection and the plan, `wire.py` bytes
  out and counting bytes in, `report.py` the figures and their text, `storm.py` the connection
  storm (`--storm`), `crowd.py` its plan and its clients, and `joins.py` how its clients
  recognise their own join.
"""

from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    """Run `chathub bench` with `argv` (the arguments after `bench`); returns the exit status."""
    from chathub.bench.run import main as run_main

    return run_main(argv)
