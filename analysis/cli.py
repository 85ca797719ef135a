"""`na64 <step>`: the command-line entry point.

Thin by design: every subcommand parses options and calls one public function of the
package. Subcommands live in sections below, one per workflow step.
"""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="na64")
def main() -> None:
    """NA64-style missing-energy dark-sector analysis."""


# --- schema / datasets --------------------------------------------------------------------

# --- simulation ---------------------------------------------------------------------------

# --- physics ------------------------------------------------------------------------------

# --- processing (run) ---------------------------------------------------------------------

# --- background / statistics / limits -----------------------------------------------------

# --- full analyses ------------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
