"""`shuyuan audit sealer` with a consumer group of the benchmark's own (argv[1]).

The same code path as the CLI command (exchange/audit/cli.py `sealer_cmd`); only the consumer group
differs, so that on a broker shared with other sessions their sealers (group `shuyuan.audit.sealer`)
neither rebalance with this one nor see the benchmark's audit topic.
"""

import sys

from exchange.audit import sealer
from exchange.audit.cli import sealer_cmd

if __name__ == "__main__":
    if len(sys.argv) > 1:
        sealer.Sealer.__init__.__kwdefaults__["group"] = sys.argv[1]
    sealer_cmd()
