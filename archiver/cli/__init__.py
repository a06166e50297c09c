"""The bbx command line (typer app; one module per command)."""


def main() -> None:  # replaced by the container/CLI work
    raise SystemExit("bbx: command line not built yet")
