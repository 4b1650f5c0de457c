"""The C sources of a package, for //tests/architecture:layering_test (which checks includes)."""

def layering_sources():
    native.filegroup(
        name = "sources",
        srcs = native.glob(["*.c", "*.h"]),
        visibility = ["//tests/architecture:__pkg__"],
    )
