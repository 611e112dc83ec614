#!/usr/bin/python3
"""The README's shell blocks as one script, for tests/interop/readme.sh.

    readme_blocks.py <README.md> <out script>

Every ```sh block of the README either runs, or is preceded (on the line
just before its fence) by `<!-- readme-test: skip: <reason> -->`.  The
blocks that run are written in README order, unchanged, each after an
`echo` naming its first line; the skipped ones are listed on stdout with
their reasons.  Exit 1 for a skip marker without a reason, a marker not
followed by a sh block, or an unterminated block.
"""
import re
import sys

MARK = re.compile(r"^<!-- readme-test: skip(?:: *(.*?))? *-->$")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
    out, skip, i, n_run = [], None, 0, 0
    while i < len(lines):
        line = lines[i]
        m = MARK.match(line)
        if m:
            if not m.group(1):
                sys.exit("line %d: skip marker without a reason" % (i + 1))
            if i + 1 >= len(lines) or lines[i + 1] != "```sh":
                sys.exit("line %d: skip marker not right before a ```sh block" % (i + 1))
            skip = m.group(1)
        elif line == "```sh":
            start = i + 1
            j = start
            while j < len(lines) and lines[j] != "```":
                j += 1
            if j == len(lines):
                sys.exit("line %d: ```sh block without its end" % (i + 1))
            block = lines[start:j]
            first = block[0] if block else ""
            if skip:
                print("skipped (line %d, %s): %s" % (i + 1, skip, first))
            else:
                out.append("echo '### README line %d: %s'" % (i + 1, first.replace("'", "'\\''")))
                out.extend(block)
                n_run += 1
            skip = None
            i = j
        i += 1
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print("%d blocks to run" % n_run)


if __name__ == "__main__":
    main()
