"""``deeprnn train`` / ``deeprnn evaluate`` (placeholder)."""


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train a model from a TOML config")
    p.set_defaults(func=lambda args: p.print_help())
