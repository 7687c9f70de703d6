"""`python -m idsync.cli` runs the command line (the tests use it to run the current checkout)."""

from idsync.cli.main import main

main()
