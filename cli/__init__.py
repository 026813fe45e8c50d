"""The mlcloud command line (Typer). Thin: parse, call mlcloud.deploy, render."""
