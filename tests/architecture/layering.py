"""Checks the module graph of the sources: which package may include which, and no cycles.

Packages are the folders under server/ plus gateway/. Dependencies point down only (DESIGN.md):

    fronts (gateway, server/grpc) -> net (sockets) -> core <- recommenders, events, catalog, experiments, auth, ops
                                                                -> upstream
                                                            <- geoip
    main.c (package "server") wires everything.

The allowed edges are the table ALLOWED below; an include outside it, or any cycle between
packages, fails the test with the offending file and line. Bazel's visibility rules enforce the
same boundaries at build time (a dependency upwards does not build); this check also covers
includes that would slip through a target's own headers.

Usage: layering.py REPO_ROOT   (run by //tests/architecture:layering_test)
Prints `N passed, N failed`.
"""
import os
import re
import sys

# package -> packages it may include (besides itself); "proto" is the generated code.
ALLOWED = {
    "server/core": {"proto"},
    "server/upstream": {"server/core"},
    "server/recommenders": {"server/core", "server/upstream", "proto"},
    "server/events": {"server/core", "server/upstream", "proto"},
    "server/catalog": {"server/core", "proto"},
    "server/geoip": {"server/core"},
    "server/auth": {"server/core", "server/upstream"},
    "server/experiments": {"server/core", "proto"},
    "server/ops": {"server/core", "server/upstream", "proto"},
    "server/demo": set(),
    "server/net": {"server/core"},
    "server/grpc": {"server/core", "server/net", "proto"},
    "gateway": {"server/core", "server/net", "proto"},
    "server": {"server/core", "server/upstream", "server/recommenders", "server/events", "server/catalog",
               "server/experiments", "server/auth", "server/demo", "server/geoip", "server/grpc", "server/ops",
               "server/net", "gateway",
               "proto"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def package_of_path(path):
    """The package a repository path belongs to, or None when it is not a source package."""
    parts = path.split("/")
    if parts[0] == "gateway":
        return "gateway"
    if parts[0] == "proto" or path.startswith("personalization/") or path.startswith("google/") \
            or path.startswith("grpc/"):
        return "proto"
    if parts[0] == "server":
        return "server/" + parts[1] if len(parts) > 2 else "server"
    return None


def sources(root):
    for top in ("server", "gateway"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if name.endswith((".c", ".h")):
                    full = os.path.join(dirpath, name)
                    yield os.path.relpath(full, root), full


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    problems = []
    edges = {}
    n_files = 0
    for rel, full in sources(root):
        n_files += 1
        pkg = package_of_path(rel)
        with open(full, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = package_of_path(m.group(1))
                if target is None or target == pkg:
                    continue
                edges.setdefault(pkg, set()).add(target)
                if pkg not in ALLOWED:
                    problems.append("%s:%d: package %s is not in the layering table" % (rel, line_no, pkg))
                elif target not in ALLOWED[pkg]:
                    problems.append("%s:%d: %s may not include %s (%s)" % (rel, line_no, pkg, target, m.group(1)))
    # cycles in the package graph (proto is a leaf)
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                problems.append("cycle: " + " -> ".join(path + [node, nxt]))
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    checks = [("%d source files follow the layering table" % n_files, [p for p in problems if "cycle" not in p]),
              ("the package graph has no cycles", [p for p in problems if "cycle" in p])]
    failed = 0
    for name, found in checks:
        if found:
            failed += 1
            print("[FAIL] " + name)
            for p in found:
                print("  " + p)
        else:
            print("[ OK ] " + name)
    print("%d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
