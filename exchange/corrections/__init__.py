"""Corrections (纠错 / 数据异议): a consumer's report of a wrong value, routed to its source and tracked."""
