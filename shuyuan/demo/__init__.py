"""`shuyuan demo`: SCENARIOS.md told step by step against a running exchange (docs/demo.md)."""
