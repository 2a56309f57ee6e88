"""Shuyuan (数源): the command line and the composition of the whole system."""
