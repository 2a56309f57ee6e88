"""`python -m shuyuan`."""

from shuyuan.cli import main

main()
