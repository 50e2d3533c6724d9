import math

def p99(latencies):
    """The smallest latency that at least 99% of the requests did not exceed."""
    ordered = sorted(latencies)
    rank = math.ceil(0.99 * len(ordered))  # how many values the p99 covers: 99%, rounded up
    return ordered[rank - 1]
