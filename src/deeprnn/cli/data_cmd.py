"""``deeprnn data``: info, verify, fetch (placeholder until deeprnn.data lands)."""


def add_parser(subparsers):
    p = subparsers.add_parser("data", help="inspect, verify and download the benchmark datasets")
    p.set_defaults(func=lambda args: p.print_help())
