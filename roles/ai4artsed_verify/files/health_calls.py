"""Call /api/health N times in a row and print the answers as one JSON list.

usage: health_calls.py --url http://HOST:PORT --calls N

One process on the target instead of N Ansible tasks: the calls come close
together, as a browser's would, and each answer is kept whole for the assert.
"""

from __future__ import annotations

import argparse
import json
import urllib.request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    args = parser.parse_args()
    answers = []
    for _ in range(args.calls):
        with urllib.request.urlopen(f"{args.url}/api/health", timeout=10) as answer:  # noqa: S310 (loopback URL from the role)
            answers.append(json.load(answer))
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
