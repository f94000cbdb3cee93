"""``python -m tipgraph``: the ``tipgraph`` command."""

from tipgraph.cli import cli

if __name__ == "__main__":
    cli()
